"""The SNN node with `align`: the ring alignment sits in front of the network, learns while learning is
on, finds a rotated input, and travels with the node's state."""

import numpy as np
from snn_reference import ring_spikes

from spikestream.nodes.snn import SNNNode
from spikestream.protocol import Message, Spikes
from spikestream.testing import NodeHarness

STEP_US = 25_000
PARAMS = {"dt_us": 5000, "seed": 1, "outputs": ["input", "hidden"], "n_inputs": 16,
          "align": {"ring": 8, "per_channel": 2, "learn_s": 20.0, "min_evidence_s": 10.0},
          "layers": [{"name": "hidden", "n": 8, "model": "lif"}],
          "connections": [{"pre": "input", "post": "hidden", "rule": "all_to_all", "weight": 0.5}]}


def _feed(node, idx, t, t0, seconds, k0=0):
    for k in range(int(seconds * 1e6) // STEP_US):
        a = t0 + k * STEP_US
        m = (t >= a) & (t < a + STEP_US)
        node.on_message("in", Message(Spikes(a, a + STEP_US, 16, idx[m].astype(np.uint32), t[m]), stream="enc",
                                      seq=k0 + k, t_us=a, origin_ns=0))
    return t0 + int(seconds * 1e6) // STEP_US * STEP_US


def _node(**extra):
    h = NodeHarness(SNNNode, {**PARAMS, **extra}, name="snn")
    return h.node, h.emitted["out"]


def test_node_finds_rotation_and_passes_aligned_input_on():
    node, out = _node()
    t = _feed(node, *ring_spikes(21, 0, seed=1), 0, 21)
    idx, ts = ring_spikes(30, 1, seed=2, t0_us=t)
    _feed(node, idx, ts, t, 30, k0=10_000)
    assert node.align.shift == 1
    last = [b for b in out[-100:]]
    inp = np.concatenate([b.idx[b.idx < 16] for b in last]).astype(np.int64)
    raw = idx[ts >= last[0].t0_us]
    assert np.array_equal(np.bincount(inp, minlength=16), np.roll(np.bincount(raw, minlength=16), -2))
    # the alignment is part of the node's state and comes back with it
    s = node.get_state()
    assert "align.cw" in s
    fresh, _ = _node()
    fresh.set_state(s)
    assert fresh.align.shift == 1


def test_learning_off_in_the_file_keeps_the_input_as_it_is():
    node, out = _node(learning=False)
    t = _feed(node, *ring_spikes(21, 0, seed=1), 0, 21)
    _feed(node, *ring_spikes(30, 1, seed=2, t0_us=t), t, 30, k0=10_000)
    assert node.align.shift == 0 and not node.align.learning
    assert node.on_command("learning", {"on": True}) == {"learning": True} and node.align.learning
