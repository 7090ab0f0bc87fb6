"""One message must never kill, freeze or hang a node (issue 11, item 2), through a real relay node:
a multipart or oversize control request, an input frame over max_message_bytes, seq = 2**64-1 on a new
stream, and a peer cycling through stream names."""

import time

import numpy as np
import pytest
import zmq
from loop_helpers import RelayRig, samples
from runtime_helpers import command, wait_for

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime.inputs import MAX_STREAMS, InputStreams
from spikestream.runtime.stats import NodeStats


@pytest.fixture
def rig(tmp_path):
    r = RelayRig(tmp_path, extra="max_message_bytes = 4096")
    yield r
    r.close()


def _req(endpoint, parts, timeout_ms=2000):
    s = zmq.Context.instance().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    try:
        s.send_multipart(parts)
        return P.unpack(s.recv()).body if s.poll(timeout_ms) else None
    finally:
        s.close()


def test_a_multipart_control_request_gets_an_error_reply_and_the_node_serves_on(rig):
    cmd = P.pack(P.Message(P.Command("ping")))
    reply = _req(rig.e["ctl"], [cmd, cmd])
    assert reply is not None and not reply.ok and "one frame" in reply.error
    assert rig.proc.poll() is None
    assert command(rig.e["ctl"], "ping").result == "pong"


def test_an_oversize_control_request_does_not_stop_the_channel(rig):
    big = P.pack(P.Message(P.Command("ping", {"pad": "x" * (2 << 20)})))
    assert _req(rig.e["ctl"], [big], timeout_ms=500) is None  # ZeroMQ closes that requester's connection
    assert command(rig.e["ctl"], "ping").result == "pong"


def test_an_input_frame_over_the_size_limit_is_dropped_and_later_messages_still_pass(rig):
    rig.send(samples("src.out", 0, 1000))
    wait_for(lambda: rig.drain() and rig.times() == [1000], what="the first message")
    rig.send(samples("src.out", 1, 2000, n=1000))  # ~12 kB > max_message_bytes = 4096
    seq = 2

    def passes():  # ZeroMQ closed the connection; the node must connect again by itself
        nonlocal seq
        rig.send(samples("src.out", seq, 1000 * (seq + 1)))
        seq += 1
        return rig.drain(0.05) and len(rig.got) > 1

    wait_for(passes, timeout=10, what="a valid message after the oversize one")
    assert 2000 not in rig.times()
    assert rig.delta()["input_reconnects"] >= 1
    assert rig.proc.poll() is None


def test_seq_2_64_minus_1_on_new_streams_keeps_the_counters_and_stats_working(rig):
    for name in ("a.out", "b.out"):
        rig.send(samples(name, 2**64 - 1, 1000))
    rig.send(samples("c.out", 0, 1000))
    wait_for(lambda: rig.drain() and len(rig.got) == 3, what="the three messages")
    s = rig.delta()  # the stats command itself must not fail
    assert s["seq_jumps"] == 2 and s["dropped"] == 0
    np.testing.assert_array_equal(sorted(rig.times()), [1000] * 3)


def test_a_peer_cycling_stream_names_is_bounded(rig):
    n = 500
    for i in range(n):
        rig.send(samples(f"s{i}.out", 0, 1000))
    wait_for(lambda: rig.drain() and len(rig.got) == n, what="every stream's message")
    assert rig.delta()["streams_evicted"] == n + 1 - MAX_STREAMS  # + the warm-up stream


def test_200k_stream_names_keep_64_per_port():
    st = NodeStats("n", "relay")
    tracker = InputStreams(st, lambda key, text: None)
    msg = P.Message(P.Control(np.zeros(1)), "", 0, 0, 0)
    t = time.perf_counter()
    for i in range(200_000):
        msg.stream = f"s{i}"
        assert list(tracker.accept("in", msg)) == [msg]
    assert len(tracker) == MAX_STREAMS and st.streams_evicted == 200_000 - MAX_STREAMS
    assert time.perf_counter() - t < 30  # O(1) per message


def test_a_sender_that_goes_away_and_comes_back_is_left_to_zeromq(rig):
    """Only connections ZeroMQ gives up on are reconnected by the node; a restarted sender it retries itself."""
    rig.send(samples("src.out", 0, 1000))
    wait_for(lambda: rig.drain() and rig.times() == [1000], what="the first message")
    rig.up.close(0)  # the sender dies ...

    def rebind():  # ... and comes back at the same endpoint, once ZeroMQ's I/O thread has let the port go
        try:        # (close is asynchronous: an immediate bind can find the address still in use)
            return transport.pub(zmq.Context.instance(), rig.e["up"])
        except zmq.ZMQError as e:
            if e.errno != zmq.EADDRINUSE:
                raise
            return None

    rig.up = wait_for(rebind, timeout=10, what="the sender's port to be free again")
    seq = 0

    def passes():
        nonlocal seq
        rig.send(samples("src2.out", seq, 1000 * (seq + 1)))
        seq += 1
        return rig.drain(0.05) and len(rig.got) > 1

    wait_for(passes, timeout=10, what="messages from the restarted sender")
    assert rig.delta()["input_reconnects"] == 0
