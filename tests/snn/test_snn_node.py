"""The SNN node without sockets: packets in, packets out, commands, state, bad input."""

import numpy as np
import pytest
from snn_reference import poisson_input

from spikestream.nodes.snn import SNNNode
from spikestream.protocol import Message, Samples, Spikes, pack, unpack
from spikestream.testing import NodeHarness


def _node(params, **extra):
    h = NodeHarness(SNNNode, {**params, **extra}, name="snn")
    return h.node, h.out


def _packets(n_in, T, step_us, seed=0, rate=80.0):
    idx, t = poisson_input(n_in, rate, T, seed)
    for t0 in range(0, T, step_us):
        sel = (t >= t0) & (t < t0 + step_us)
        yield Spikes(t0, t0 + step_us, n_in, idx[sel].astype(np.uint32), t[sel])


def test_packets_in_packets_out(minimal_params):
    node, out = _node(minimal_params)
    for k, sp in enumerate(_packets(400, 500_000, 10_000)):
        node.on_message("in", Message(sp, stream="enc", seq=k, t_us=sp.t0_us, origin_ns=1000 + k))
    assert len(out) == 50
    n_spk = 0
    for k, (port, body, _, origin) in enumerate(out):
        assert port == "out" and origin == 1000 + k
        assert (body.t0_us, body.t1_us) == (k * 10_000, (k + 1) * 10_000)
        assert body.n_neurons == 64
        unpack(pack(Message(body)))  # valid on the wire
        n_spk += body.idx.size
    assert n_spk > 0
    stats = node.on_command("stats", {})
    assert stats["built"] and stats["rates_hz"]["hidden"] > 0
    assert set(stats["mean_weight"]) == {"input->hidden"}
    assert stats["weight_change"]["input->hidden"] > 0  # STDP on: the weights moved while it streamed
    assert node.on_command("stats", {})["weight_change"]["input->hidden"] == 0.0  # nothing streamed since


def test_learning_command_and_state_roundtrip(minimal_params):
    a, out_a = _node(minimal_params)
    assert a.on_command("learning", {"on": False}) == {"learning": False}
    with pytest.raises(ValueError):
        a.on_command("learning", {"on": "yes"})
    pk = list(_packets(400, 200_000, 20_000))
    for sp in pk[:5]:
        a.on_message("in", Message(sp, origin_ns=1))
    w0 = a.snn.weights("input->hidden")
    state = a.get_state()
    b, out_b = _node(minimal_params)
    b.set_state(state)           # before the first packet: applied when the network is built
    n_before = len(out_a)
    for sp in pk[5:]:
        a.on_message("in", Message(sp, origin_ns=1))
        b.on_message("in", Message(sp, origin_ns=1))
    assert b.snn.learning is False
    np.testing.assert_array_equal(a.snn.weights("input->hidden"), w0)
    assert len(out_a) - n_before == len(out_b) > 0
    for x, y in zip((e.body for e in out_a[n_before:]), (e.body for e in out_b)):
        np.testing.assert_array_equal(x.idx, y.idx)
        np.testing.assert_array_equal(x.t_us, y.t_us)


def test_bad_packets_are_counted_not_fatal(minimal_params):
    node, out = _node(minimal_params, n_inputs=400)
    node.on_message("in", Message(Spikes(0, 1000, 12, np.zeros(0, np.uint32), np.zeros(0, np.int64))))
    assert node.counters["rejected_packets"] == 1 and not out
    node.on_message("in", Message(Spikes(0, 5000, 400, np.array([3], np.uint32), np.array([4000]))))
    node.on_message("in", Message(Spikes(2000, 9000, 400, np.array([3, 4], np.uint32), np.array([2500, 8000]))))
    assert node.counters["late_spikes"] == 1
    assert out[-1].body.t0_us == 5000 and out[-1].body.t1_us == 9000
    node.on_message("reward", Message(Samples(np.array([1000]), np.ones((1, 1), np.float32))))
    assert node.counters.get("late_rewards", 0) == 1   # no rstdp projection, but time is checked


def test_bad_params_fail_at_setup(minimal_params):
    bad = dict(minimal_params, layers=[{"name": "h", "n": 4, "model": "lif", "tau_q": 1}])
    with pytest.raises(ValueError, match="unknown parameter 'tau_q'"):
        _node(bad)
    with pytest.raises(ValueError, match="unknown neuron model"):
        _node(dict(minimal_params, layers=[{"name": "h", "n": 4, "model": "nope"}]))


def test_state_of_other_network_is_refused(minimal_params):
    a, _ = _node(minimal_params, n_inputs=400)
    other = dict(minimal_params, layers=[{"name": "hidden", "n": 65, "model": "lif"}])
    b, _ = _node(other, n_inputs=400)
    with pytest.raises(ValueError, match="another shape"):
        b.set_state(a.get_state())


def test_time_jump_does_not_stall(minimal_params):
    node, out = _node(minimal_params, n_inputs=400, max_gap_ms=1000)
    empty = (np.zeros(0, np.uint32), np.zeros(0, np.int64))
    node.on_message("in", Message(Spikes(0, 10_000, 400, *empty)))
    hour = 3_600_000_000
    node.on_message("in", Message(Spikes(hour, hour + 10_000, 400, np.array([1], np.uint32), np.array([hour + 5]))))
    assert node.counters["time_jumps"] == 1
    assert (out[-1].body.t0_us, out[-1].body.t1_us) == (hour, hour + 10_000)


def test_reward_port_drives_rstdp():
    params = {"dt_us": 1000, "seed": 0,
              "layers": [{"name": "post", "n": 1, "model": "lif", "t_ref_ms": 3.0, "tau_exc_ms": 0.3}],
              "connections": [
                  {"name": "plastic", "pre": "input", "post": "post", "weight": 0.5,
                   "plasticity": {"rule": "rstdp", "a_plus": 0.1, "a_minus": 0.1, "tau_elig_ms": 500.0,
                                  "lr": 0.01, "reward_channel": 1}},
                  {"name": "drive", "pre": "input", "post": "post", "weight": 2000.0}]}
    results = {}
    for reward in (0.0, 1.0, -1.0):
        node, out = _node(params, n_inputs=2)
        node.snn.set_weights("plastic", [0.5, 0.0])
        node.snn.set_weights("drive", [0.0, 2000.0])
        # pre (input 0) at 100 ms, drive at 104 -> post spike at 105: causal pair
        node.on_message("in", Message(Spikes(0, 120_000, 2, np.array([0, 1], np.uint32), np.array([100_000, 104_000]))))
        data = np.array([[0.0, reward]], np.float32)  # column 1 = reward channel 1
        node.on_message("reward", Message(Samples(np.array([150_000]), data)))
        node.on_message("in", Message(Spikes(120_000, 600_000, 2, np.zeros(0, np.uint32), np.zeros(0, np.int64))))
        results[reward] = node.snn.weights("plastic")[0] - 0.5
    assert results[0.0] == 0.0 and results[1.0] > 0 > results[-1.0]


def _weights_after(node, packets):
    for sp in packets:
        node.on_message("in", Message(sp, origin_ns=1))
    return node.snn.weights("input->hidden")


def test_a_learning_schedule_in_stream_time(minimal_params):
    """learning = {from_s, until_s}: the weights stay put outside the window and move inside it."""
    pk = list(_packets(400, 600_000, 20_000))  # 0.6 s of stream in 30 packets
    node, _ = _node(minimal_params, learning={"from_s": 0.2, "until_s": 0.4})
    assert node.on_command("stats", {}) == {"built": False, "learning": False}
    w0 = _weights_after(node, pk[:1])
    w1 = _weights_after(node, pk[1:10])   # up to 0.2 s: off
    np.testing.assert_array_equal(w0, w1)
    w2 = _weights_after(node, pk[10:20])  # 0.2-0.4 s: on
    assert not np.array_equal(w1, w2) and node.on_command("stats", {})["learning"] is True
    w3 = _weights_after(node, pk[20:])    # from 0.4 s: off again
    assert node.on_command("stats", {})["learning"] is False
    np.testing.assert_array_equal(w2, w3)
    assert node.on_command("stats", {})["stream_s"] == pytest.approx(0.6)


def test_the_schedule_clock_survives_a_restart_and_the_command_overrides_it(minimal_params):
    pk = list(_packets(400, 600_000, 20_000))
    a, _ = _node(minimal_params, learning={"from_s": 0.3})
    _weights_after(a, pk[:10])
    state = a.get_state()
    assert int(state["node.stream_us"]) == 200_000
    b, _ = _node(minimal_params, learning={"from_s": 0.3})
    b.set_state(state)            # a restarted node goes on at 0.2 s of stream time, not at 0
    wb = _weights_after(b, pk[10:15])
    np.testing.assert_array_equal(wb, b.snn.weights("input->hidden"))
    assert b.snn.learning is False
    _weights_after(b, pk[15:17])  # past 0.3 s
    assert b.snn.learning is True
    assert b.on_command("learning", {"on": False}) == {"learning": False}
    w = _weights_after(b, pk[17:])  # the command holds: the schedule no longer turns it on
    assert b.snn.learning is False
    np.testing.assert_array_equal(w, b.snn.weights("input->hidden"))
    bad = dict(state, **{"node.stream_us": np.array(-5, np.int64)})
    c, _ = _node(minimal_params)
    with pytest.raises(ValueError, match="stream_us"):
        c.set_state(bad)
    assert c.snn is None  # nothing of the unusable state stayed


@pytest.mark.parametrize("value", ["yes", 1, {}, {"from_s": -1}, {"from_s": 2, "until_s": 1}, {"start": 1},
                                   {"from_s": float("inf")}, {"until_s": True}])
def test_a_bad_learning_value_is_refused_at_setup(minimal_params, value):
    with pytest.raises(ValueError, match="learning"):
        _node(minimal_params, learning=value)
