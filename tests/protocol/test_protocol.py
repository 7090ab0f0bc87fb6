"""The wire format: round trips, and every kind of bad frame rejected with a ProtocolError (nothing else)."""

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream import protocol as P


def samples_msg(n=5, c=3):
    t = np.arange(n, dtype=np.int64) * 1000 + 7
    d = np.random.default_rng(0).standard_normal((n, c)).astype(np.float32)
    return P.Message(P.Samples(t, d, 1000.0, [f"ch{i}" for i in range(c)]), "emg.samples", 3, int(t[-1]), 123)


def spikes_msg():
    return P.Message(P.Spikes(1000, 2000, 16, np.array([3, 0, 15], np.uint32), np.array([1000, 1500, 1999], np.int64)),
                     "enc.out", 9, 2000, 456)


ALL = [
    samples_msg(),
    spikes_msg(),
    P.Message(P.Spikes(0, 1000, 4, np.zeros(0, np.uint32), np.zeros(0, np.int64)), "s", 0, 1000, 1),
    P.Message(P.Control(np.array([0.5, -1.0]), ["grip", "wrist"], safe=True), "out.out", 1, 5, 6),
    P.Message(P.Events(0, 100, 640, 480, np.array([1, 639], np.uint16), np.array([2, 479], np.uint16),
                       np.array([0, 99], np.int64), np.array([1, 0], np.uint8)), "cam.events", 2, 100, 7),
    P.Message(P.Stats("enc", {"msgs_in": {"in": 3}, "latency_ms": {"p50": 0.2}}), "enc.stats", 4),
    P.Message(P.Command("learning", {"on": False})),
    P.Message(P.Reply(True, {"x": 1})),
]


@pytest.mark.parametrize("msg", ALL, ids=lambda m: m.kind)
def test_round_trip(msg):
    back = P.unpack(P.pack(msg))
    assert (back.kind, back.stream, back.seq, back.t_us, back.origin_ns) == (msg.kind, msg.stream, msg.seq, msg.t_us, msg.origin_ns)
    for f in msg.body.__dataclass_fields__:
        a, b = getattr(msg.body, f), getattr(back.body, f)
        if isinstance(a, np.ndarray):
            assert b.dtype == a.dtype.newbyteorder("<") and np.array_equal(a, b)
        else:
            assert a == b


def test_arrays_are_little_endian_raw_bytes():
    m = samples_msg(2, 1)
    raw = msgpack.unpackb(P.pack(m))
    arr = raw["body"]["data"]
    assert arr["dtype"] == "<f4" and arr["shape"] == [2, 1]
    assert arr["data"] == m.body.data.astype("<f4").tobytes()
    big = P.pack_array(np.array([1.0, 2.0], dtype=">f8"))
    assert big["dtype"] == "<f8" and np.array_equal(np.frombuffer(big["data"], "<f8"), [1.0, 2.0])


def test_truncated_frames_rejected():
    frame = P.pack(samples_msg())
    for cut in range(len(frame)):
        with pytest.raises(P.ProtocolError):
            P.unpack(frame[:cut])


def test_oversized_rejected_before_decoding():
    frame = P.pack(samples_msg(1000, 8))
    with pytest.raises(P.ProtocolError, match="exceeds the limit"):
        P.unpack(frame, max_bytes=len(frame) - 1)
    assert P.unpack(frame, max_bytes=len(frame)).body.data.shape == (1000, 8)


def _tamper(msg, fn):
    m = msgpack.unpackb(P.pack(msg), raw=False)
    fn(m)
    return msgpack.packb(m, use_bin_type=True)


@pytest.mark.parametrize("fn,match", [
    (lambda m: m.update(v=2), "version"),
    (lambda m: m.pop("v"), "version"),
    (lambda m: m.update(kind="pickle"), "unknown message kind"),
    (lambda m: m.update(seq=-1), "negative"),
    (lambda m: m.update(stream=5), "stream"),
    (lambda m: m.pop("body"), "body"),
    (lambda m: m["body"]["data"].update(dtype="|O"), "not allowed"),
    (lambda m: m["body"]["data"].update(dtype="<f8"), "required"),
    (lambda m: m["body"]["data"].update(shape=[4, 3]), "bytes"),
    (lambda m: m["body"]["data"].update(shape=[15]), "2-d"),
    (lambda m: m["body"].update(t=P.pack_array(np.array([5, 4, 3, 2, 1], np.int64))), "increasing"),
    (lambda m: m["body"].update(channels=["a"]), "channels"),
], ids=["version", "no-version", "kind", "seq", "stream", "body", "object-dtype", "dtype", "shape-bytes", "ndim",
        "time-order", "channels"])
def test_bad_samples_rejected(fn, match):
    with pytest.raises(P.ProtocolError, match=match):
        P.unpack(_tamper(samples_msg(), fn))


def test_non_finite_samples_and_controls_rejected():
    m = samples_msg()
    m.body.data[1, 1] = np.nan
    with pytest.raises(P.ProtocolError, match="NaN"):
        P.unpack(P.pack(m))
    c = P.Message(P.Control(np.array([np.inf])))
    with pytest.raises(P.ProtocolError, match="NaN or inf"):
        P.unpack(P.pack(c))


@pytest.mark.parametrize("idx,t,match", [
    ([16], [1500], "n_neurons"),
    ([1], [999], "outside"),
    ([1], [2000], "outside"),
    ([1, 2], [1600, 1500], "sorted"),
])
def test_bad_spikes_rejected(idx, t, match):
    m = P.Message(P.Spikes(1000, 2000, 16, np.array(idx, np.uint32), np.array(t, np.int64)))
    with pytest.raises(P.ProtocolError, match=match):
        P.unpack(P.pack(m))


def test_expected_kinds_enforced():
    with pytest.raises(P.ProtocolError, match="expected"):
        P.unpack(P.pack(spikes_msg()), kinds=("samples",))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_else(b):
    try:
        P.unpack(b)
    except P.ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_bit_flips_never_raise_anything_else(data):
    frame = bytearray(P.pack(data.draw(st.sampled_from(ALL))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] ^= 1 << data.draw(st.integers(0, 7))
    try:
        P.unpack(bytes(frame))
    except P.ProtocolError:
        pass
