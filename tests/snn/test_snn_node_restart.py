"""A restarted source begins its time base again: the SNN node follows it and keeps what it learned."""

import numpy as np
import pytest

from spikestream.nodes.snn import SNNNode
from spikestream.protocol import Message, Spikes
from spikestream.testing import NodeHarness

PARAMS = {"dt_us": 1000, "seed": 1, "outputs": ["h"], "layers": [{"name": "h", "n": 8, "model": "lif"}],
          "connections": [{"pre": "input", "post": "h", "weight": {"init": "uniform", "low": 4.0, "high": 8.0},
                           "plasticity": {"rule": "stdp_pair", "w_max": 10.0}}]}


def feed(node, t0_ms, n_ms, seq0, rng):
    for k in range(n_ms):
        t0 = (t0_ms + k) * 1000
        idx = np.sort(rng.choice(4, size=rng.integers(0, 3), replace=False)).astype(np.uint32)
        node.on_message("in", Message(Spikes(t0, t0 + 1000, 4, idx, np.full(idx.size, t0, np.int64)),
                                      "enc.out", seq0 + k, t0 + 1000, 1))


def test_snn_node_follows_a_source_that_restarted_its_clock():
    h = NodeHarness(SNNNode, PARAMS, name="snn")
    node, out = h.node, h.out
    rng = np.random.default_rng(0)
    feed(node, 0, 3000, 0, rng)
    w_before = node.snn.weights("input->h").copy()
    n_before = len(out)
    feed(node, 0, 500, 0, rng)  # the source came back from t = 0
    assert node.counters["time_resets"] == 1
    new = out[n_before:]
    assert len(new) == 500
    assert [e.body.t1_us for e in new] == [(k + 1) * 1000 for k in range(500)]  # windows follow the new clock
    assert all(e.t_us == e.body.t1_us for e in new)
    assert sum(e.body.idx.size for e in new) > 0  # and the network still answers
    assert not np.array_equal(node.snn.weights("input->h"), w_before)  # learning went on
    assert node.counters.get("late_spikes", 0) == 0


def test_snn_node_builds_a_named_topology():
    h = NodeHarness(SNNNode, {"topology": "reservoir", "topology_params": {"n_exc": 40, "n_inh": 10}}, name="snn")
    node, out = h.node, h.emitted["out"]
    rng = np.random.default_rng(1)
    feed(node, 0, 200, 0, rng)
    assert len(out) == 200 and out[0].n_neurons == node.snn.n_outputs
    with pytest.raises(ValueError, match="unknown parameter"):
        SNNNode("snn", {"topology": "reservoir", "topology_params": {"nope": 1}}).setup()
    with pytest.raises(ValueError, match="topology_params"):
        SNNNode("snn", {"topology": "synfire", "dt_us": 500}).setup()
