import numpy as np
import pytest

from spikestream.encode.delta import DeltaEncoder
from spikestream.protocol import Message, Samples, Spikes, pack, unpack
from spikestream.testing import NodeHarness


def _node(**params):
    h = NodeHarness("encoder", params, name="enc")
    return h.node, h.out


def _msgs(x, t, sizes, rate=1000.0):
    k = 0
    for i, s in enumerate(sizes):
        yield Message(Samples(t[k:k + s], x[k:k + s], rate), stream="emg", seq=i, t_us=int(t[k + s - 1]), origin_ns=1000 + i)
        k += s


def test_encoder_node_matches_the_stage_and_windows_tile():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((500, 3)), axis=0).astype(np.float32) * 0.1
    t = np.arange(500, dtype=np.int64) * 1000
    sizes = [1, 7, 100, 2, 390]
    n, out = _node(encoder="delta", threshold=0.1)
    for m in _msgs(x, t, sizes):
        n.on_message("in", m)
    assert len(out) == len(sizes)
    ref_i, ref_t = DeltaEncoder(3, threshold=0.1).encode(x, t)
    np.testing.assert_array_equal(np.concatenate([b.idx for _, b, *_ in out]), ref_i)
    np.testing.assert_array_equal(np.concatenate([b.t_us for _, b, *_ in out]), ref_t)
    k = 0
    for i, ((port, b, t_env, origin), s) in enumerate(zip(out, sizes)):
        assert port == "out" and isinstance(b, Spikes) and b.n_neurons == 6
        assert (b.t0_us, b.t1_us) == (t[k], t[k + s - 1] + 1000)
        assert origin == 1000 + i and t_env == t[k + s - 1]
        unpack(pack(Message(b, stream="s", seq=i, t_us=t_env, origin_ns=origin)))  # passes validation
        k += s
    assert n.counters["samples_in"] == 500


def test_bad_messages_are_counted_and_the_node_keeps_serving():
    x = np.zeros((20, 2), np.float32)
    x[10:] = 1.0
    t = np.arange(20, dtype=np.int64) * 1000
    n, out = _node(encoder="delta", threshold=0.5, channels=2)
    n.on_message("in", next(_msgs(x[:5], t[:5], [5])))
    n.on_message("in", Message(Samples(t[5:10], np.zeros((5, 3), np.float32), 1000.0)))  # wrong channels
    n.on_message("in", Message(Samples(t[:5], x[:5], 1000.0)))  # time went back
    assert n.counters["rejected_channels"] == 1 and n.counters["rejected_time"] == 1
    n.on_message("in", Message(Samples(t[5:], x[5:], 1000.0)))
    assert len(out) == 2 and out[1][1].idx.tolist() == [0, 2] and out[1][1].t_us.tolist() == [10_000, 10_000]


def test_state_roundtrip_through_node():
    x = np.linspace(0, 3, 40, dtype=np.float32)[:, None]
    t = np.arange(40, dtype=np.int64) * 1000
    a, out_a = _node(encoder="delta", threshold=0.2)
    a.on_message("in", Message(Samples(t[:20], x[:20], 1000.0)))
    b, out_b = _node(encoder="delta", threshold=0.2)
    b.set_state(a.get_state())
    for nd in (a, b):
        nd.on_message("in", Message(Samples(t[20:], x[20:], 1000.0)))
    np.testing.assert_array_equal(out_a[-1][1].idx, out_b[-1][1].idx)
    np.testing.assert_array_equal(out_a[-1][1].t_us, out_b[-1][1].t_us)
    b.on_message("in", Message(Samples(t[:5], x[:5], 1000.0)))
    assert b.counters["rejected_time"] == 1


def test_bad_node_params():
    with pytest.raises(Exception, match="unknown encoder"):
        _node(encoder="nope")
    with pytest.raises(ValueError, match="threshold"):
        _node(encoder="delta", threshold=-1, channels=2)


def test_rate_from_stream_and_conditioning_chain():
    from spikestream.condition._registry import build_chain
    from spikestream.encode.population import PopulationEncoder

    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 2)).astype(np.float32)
    t = np.arange(400, dtype=np.int64) * 500
    cond = [{"kind": "envelope", "cutoff_hz": 20}, {"kind": "normalize", "tau_s": 0.05}]
    n, out = _node(encoder="population", n_neurons=5, lo=-2, hi=2, conditioning=cond)
    for m in _msgs(x, t, [50] * 8, rate=2000.0):
        n.on_message("in", m)
    chain = build_chain(cond, 2, 2000.0)
    y = x
    for st in chain:
        y = st.process(y, t)
    ri, rt = PopulationEncoder(2, rate_hz=2000.0, n_neurons=5, lo=-2, hi=2).encode(y, t)
    np.testing.assert_array_equal(np.concatenate([b.idx for _, b, *_ in out]), ri)
    assert out[0][1].n_neurons == 10 and ri.size > 0
    st = n.get_state()
    assert {"cond0.zi", "cond1.mean", "enc.acc"} <= set(st)


def test_missing_rate_is_a_counted_rejection():
    n, out = _node(encoder="rate")
    n.on_message("in", Message(Samples(np.arange(3, dtype=np.int64), np.zeros((3, 1), np.float32), 0.0)))
    assert n.counters["rejected_samples"] == 1 and not out
    n.on_message("in", Message(Samples(np.arange(3, dtype=np.int64), np.ones((3, 1), np.float32), 1e6)))
    assert len(out) == 1


@pytest.mark.parametrize("params,match", [
    (dict(encoder="cochlea", f_lo=-1), "f_lo"), (dict(encoder="delta", mode="x"), "mode"),
    (dict(encoder="delta", conditioning=[{"kind": "notch", "q": -1}]), "q must be"),
    (dict(encoder="delta", channels=0), "channels"), (dict(encoder="rate", rate_hz=-5), "rate_hz"),
    (dict(encoder="delta", nonsense=3), "unknown parameter 'nonsense'"),
])
def test_bad_params_fail_at_setup(params, match):
    with pytest.raises(ValueError, match=match):
        _node(**params)


def test_stream_rate_too_low_for_the_chain_is_counted():
    n, out = _node(encoder="delta", conditioning=[{"kind": "bandpass", "low_hz": 20, "high_hz": 450}])
    for k in range(3):
        t = np.arange(5, dtype=np.int64) * 2000 + k * 10_000
        n.on_message("in", Message(Samples(t, np.zeros((5, 2), np.float32), 500.0)))
    assert n.counters["rejected_samples"] == 3 and not out
