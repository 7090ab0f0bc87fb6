"""The SNN node with the convolutional topology (docs/snn.md: topology = {kind = "conv", ...}): it runs, its
output is the conv layer's own, its state round-trips through the node, and the node's gap rule (a packet
never makes it simulate more than max_gap_ms) holds for it too. Before: the node failed at the first packet
(KeyError 'ibias' where it checks the layers' bias, then a TypeError on advance's step bound)."""

import numpy as np

from spikestream.protocol import Spikes
from spikestream.snn.topologies import build_topology
from spikestream.testing import NodeHarness

CONV = {"kind": "conv", "in_channels": 2, "height": 8, "width": 8, "kernel": 3}
N_IN = 2 * 8 * 8


def packets(n=20, seed=0, per=60, span=10_000):
    rng = np.random.default_rng(seed)
    for k in range(n):
        idx = rng.integers(0, N_IN, per).astype(np.uint32)
        t = np.sort(rng.integers(k * span, (k + 1) * span, per)).astype(np.int64)
        yield Spikes(k * span, (k + 1) * span, N_IN, idx, t)


def test_conv_node_output_is_the_layers_own():
    h = NodeHarness("snn", {"topology": dict(CONV)})
    layer = build_topology("conv", {k: v for k, v in CONV.items() if k != "kind"}, N_IN)
    want_i, want_t = [], []
    for b in packets():
        h.send("in", b)
        i, t = layer.advance(b.idx.astype(np.int64), b.t_us, b.t1_us)
        want_i.append(i)
        want_t.append(t)
    got = h.bodies("out")
    assert len(got) == 20 and h.node.counters.get("rejected_packets", 0) == 0
    got_i = np.concatenate([g.idx for g in got])
    assert got_i.size > 0  # the layer fires on this input
    np.testing.assert_array_equal(got_i, np.concatenate(want_i))
    np.testing.assert_array_equal(np.concatenate([g.t_us for g in got]), np.concatenate(want_t))


def test_conv_node_state_round_trips():
    a = NodeHarness("snn", {"topology": dict(CONV)})
    stream = list(packets(n=30, seed=1))
    for b in stream[:15]:
        a.send("in", b)
    b_ = NodeHarness("snn", {"topology": dict(CONV)})
    b_.node.set_state(a.node.get_state())
    for b in stream[15:]:
        a.send("in", b)
        b_.send("in", b)
    ta, tb = a.bodies("out")[15:], b_.bodies("out")
    assert len(ta) == len(tb) == 15
    for x, y in zip(ta, tb):
        np.testing.assert_array_equal(x.idx, y.idx)
        np.testing.assert_array_equal(x.t_us, y.t_us)


def test_conv_node_jumps_a_long_gap_instead_of_simulating_it():
    h = NodeHarness("snn", {"topology": dict(CONV), "max_gap_ms": 100})
    for b in packets(n=3):
        h.send("in", b)
    t0 = 3600 * 1_000_000  # an hour later
    h.send("in", Spikes(t0, t0 + 10_000, N_IN, np.array([1, 2], np.uint32), np.array([t0, t0 + 5], np.int64)))
    st = h.node.counters
    assert st.get("time_jumps", 0) == 1 and st.get("rejected_packets", 0) == 0
    assert len(h.bodies("out")) == 4
