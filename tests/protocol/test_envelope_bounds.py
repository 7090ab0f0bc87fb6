"""Envelope fields a node must be able to hold and count: stream names bounded, times within int64
(issue 11: one message must never kill, freeze or poison a node)."""

import msgpack
import pytest

from spikestream import protocol as P


def envelope(**over):
    m = {"v": 1, "kind": "control", "stream": "out.out", "seq": 0, "t_us": 0, "origin_ns": 0,
         "body": {"values": {"dtype": "<f8", "shape": [1], "data": b"\0" * 8}}}
    m.update(over)
    return msgpack.packb(m, use_bin_type=True)


def test_a_long_stream_name_is_rejected():
    assert P.unpack(envelope(stream="n" * P.MAX_STREAM_NAME)).stream == "n" * P.MAX_STREAM_NAME
    with pytest.raises(P.ProtocolError, match="stream name"):
        P.unpack(envelope(stream="n" * (P.MAX_STREAM_NAME + 1)))


@pytest.mark.parametrize("field", ["t_us", "origin_ns"])
@pytest.mark.parametrize("value", [2**63, 2**64 - 1])  # msgpack holds no int below -2**63
def test_times_outside_int64_are_rejected(field, value):
    with pytest.raises(P.ProtocolError, match="int64"):
        P.unpack(envelope(**{field: value}))


def test_extreme_but_valid_envelope_values_pass():
    m = P.unpack(envelope(seq=2**64 - 1, t_us=2**63 - 1, origin_ns=-(2**63)))
    assert (m.seq, m.t_us, m.origin_ns) == (2**64 - 1, 2**63 - 1, -(2**63))
