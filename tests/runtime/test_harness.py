"""`spikestream.testing.NodeHarness`, the one way the tests drive a node in-process: what it keeps, the links
it makes between harnesses, and the bounded run of a finite source."""

import numpy as np

from spikestream.testing import Emitted, NodeHarness


def test_a_chain_of_harnesses_delivers_every_body_in_order_with_its_stream_seq_and_times():
    src = NodeHarness("ramp_source", {"rate_hz": 1000.0, "chunk": 5, "limit": 20}, name="ramp")
    relay = NodeHarness("relay", {}, name="relay")
    sink = NodeHarness("recorder", {}, name="sink")
    seen = []
    real = sink.node.on_message
    sink.node.on_message = lambda port, msg: (seen.append(msg), real(port, msg))
    assert src.connect("out", relay).connect("out", sink, "in") is sink
    live = relay.emitted["out"]  # kept before anything ran: it fills as the relay emits
    polls = src.run(t0_ns=10**18, step_ns=5_000_000)  # a poll every 5 ms: one chunk of 5 rows each
    assert src.node.finished and polls == 5  # poll 0 starts the clock; chunk k is due at 4 + 5k ms
    assert len(live) == 4 == sink.node.n and sink.node.last_t == 19_000
    assert [m.stream for m in seen] == ["relay.out"] * 4 and [m.seq for m in seen] == [0, 1, 2, 3]
    assert all(isinstance(e, Emitted) and e.port == "out" for e in src.out)
    assert [m.t_us for m in seen] == [e.t_us for e in src.out] and [m.origin_ns for m in seen] == [
        e.origin_ns for e in src.out]
    got = np.concatenate([b.data[:, 0] for b in relay.bodies("out")])
    assert np.array_equal(got, np.arange(20)) and relay.bodies("nothing") == []
    copy = relay.bodies("out")
    copy.clear()
    assert len(relay.emitted["out"]) == 4  # `bodies` is a copy


def test_run_is_bounded_for_a_source_that_never_finishes():
    src = NodeHarness("ramp_source", {"rate_hz": 1000.0}, setup=False).setup()
    assert src.run(max_polls=7, t0_ns=0) == 7 and not src.node.finished
