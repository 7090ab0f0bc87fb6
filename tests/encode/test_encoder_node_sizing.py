"""The encoder node's channel count is not fixed for good by one message (issue 11: the first chunk fixed
it, so a hostile first chunk made every valid message rejected), and a restored state is checkpointed
before the first message."""

import logging

import numpy as np

from spikestream.protocol import Message, Samples
from spikestream.testing import NodeHarness


def _node(**params):
    h = NodeHarness("encoder", params, name="enc")
    return h.node, h.emitted["out"]


def _msg(k, c):
    return Message(Samples(np.array([k * 1000], np.int64), np.full((1, c), float(k % 2), np.float32), 1000.0))


def test_a_hostile_first_message_does_not_fix_the_channel_count(caplog):
    n, out = _node(encoder="delta", threshold=0.5, resize_after=5)
    n.on_message("in", _msg(0, 100_000))  # above max_channels: refused, nothing built
    assert n.enc is None and n.counters["rejected_channels"] == 1
    n.on_message("in", _msg(1, 300))      # sizes the encoder...
    assert n.enc.n_inputs == 300
    with caplog.at_level(logging.WARNING):
        for k in range(2, 22):            # ...until 5 consecutive messages of 2 channels rebuild it
            n.on_message("in", _msg(k, 2))
    assert n.enc.n_inputs == 2 and n.counters["rebuilds"] == 1
    assert n.counters["rejected_channels"] == 1 + 4
    assert len(out) == 1 + 16 and out[-1].n_neurons == 4
    assert sum("rebuilt" in r.message for r in caplog.records) == 1


def test_channels_param_fixes_the_count_for_good():
    n, out = _node(encoder="delta", threshold=0.5, channels=2, resize_after=3)
    for k in range(10):
        n.on_message("in", _msg(k, 3))
    assert n.enc.n_inputs == 2 and n.counters["rejected_channels"] == 10 and not out


def test_a_restored_state_is_the_state_until_the_first_message():
    a, _ = _node(encoder="delta", threshold=0.5)
    for k in range(5):
        a.on_message("in", _msg(k, 2))
    st = a.get_state()
    b, _ = _node(encoder="delta", threshold=0.5)
    b.set_state(st)
    got = b.get_state()  # was {} and the runtime checkpointed that
    assert set(got) == set(st) and all(np.array_equal(got[k], st[k]) for k in st)


def test_a_state_that_does_not_fit_the_first_message_is_dropped_loudly(caplog):
    a, _ = _node(encoder="delta", threshold=0.5)
    a.on_message("in", _msg(0, 2))
    b, out = _node(encoder="delta", threshold=0.5)
    b.set_state(a.get_state())
    with caplog.at_level(logging.ERROR):
        b.on_message("in", _msg(1, 3))
        b.on_message("in", _msg(2, 3))
    assert b.counters["rejected_state"] == 1 and len(out) == 2 and b.enc.n_inputs == 3
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 1
