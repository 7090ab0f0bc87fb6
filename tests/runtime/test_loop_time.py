"""A stream's time may restart or jump (issue 11): the receiving node follows it within a few messages
and loses none, while an isolated message back in time is still rejected. Through a real relay node."""

import pytest
from loop_helpers import RelayRig, samples
from runtime_helpers import wait_for

from spikestream.runtime.inputs import RESET_RUN


@pytest.fixture
def rig(tmp_path):
    r = RelayRig(tmp_path)
    yield r
    r.close()


def test_stream_whose_time_restarts_while_its_seq_counts_on_is_followed(rig):
    """The SNN follows a restarted source back in time, its own seq counting on (issue 11: the output node
    rejected 25,461 valid packets and stayed at the safe value)."""
    before = [1_000_000 + 1000 * i for i in range(10)]
    after = [1000 * i for i in range(1, 41)]  # the source restarted: its time begins again near 0
    for seq, t in enumerate(before + after):
        rig.send(samples("snn.out", seq, t))
    wait_for(lambda: rig.drain() and rig.times()[-1:] == [after[-1]], what="the restarted stream to pass")
    assert rig.times() == before + after  # every message, in order, none lost
    s = rig.delta()
    assert s["time_resets"] == 1 and s["rejected"] == 0 and s["dropped"] == 0


def test_one_far_future_time_does_not_poison_the_stream(rig):
    """t_us = 2**62 once (or a source clock that jumps once): the messages after it must get through."""
    seq = 0
    for t in range(1000, 6000, 1000):
        rig.send(samples("src.out", seq, t))
        seq += 1
    rig.send(samples("src.out", seq, 2**62))
    seq += 1
    follow = list(range(6000, 56000, 1000))
    for t in follow:
        rig.send(samples("src.out", seq, t))
        seq += 1
    wait_for(lambda: rig.drain() and rig.times()[-1:] == [follow[-1]], what="the follow-up messages")
    got = rig.times()
    assert got[:6] == [1000, 2000, 3000, 4000, 5000, 2**62]
    assert got[6:] == follow  # all follow-ups, the first of them delayed by at most RESET_RUN - 1 messages
    assert rig.delta()["time_resets"] == 1


def test_an_isolated_message_back_in_time_is_still_rejected(rig):
    sent = [(0, 1000), (1, 2000), (2, 50), (3, 3000), (4, 10), (5, 20), (6, 4000)]  # < RESET_RUN behind each time
    assert RESET_RUN > 2
    for seq, t in sent:
        rig.send(samples("src.out", seq, t))
    wait_for(lambda: rig.drain() and rig.times()[-1:] == [4000], what="the stream to pass")
    assert rig.times() == [1000, 2000, 3000, 4000]
    s = rig.delta()
    assert s["rejected"] == 3 and s["time_resets"] == 0
