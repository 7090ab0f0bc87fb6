import csv
import importlib.util
import io
import json
import pathlib
import threading

import numpy as np
import pytest
import zmq

from spikestream.protocol import unpack
from spikestream.registry import SINKS
from spikestream.sinks._base import DropOldest


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_tests_sinks_{name}", pathlib.Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


wait_for = _load("mqtt_helpers").wait_for


def test_registry_lists_all_sinks():
    assert {"mqtt", "zmq_pub", "lsl", "csv", "stdout"} <= set(SINKS.names())


def test_drop_oldest_counts_and_keeps_newest():
    q = DropOldest(3)
    for k in range(10):
        q.put(k)
    assert q.get_all(0) == [7, 8, 9] and q.dropped == 7
    with pytest.raises(ValueError):
        DropOldest(0)


def test_csv_sink_writes_rows(tmp_path):
    p = tmp_path / "out.csv"
    s = SINKS.create("csv", path=str(p))
    s.open(2, ["a", "b"])
    for k in range(50):
        s.publish(np.array([k, -k / 3]), 1000 * k, safe=k == 49, origin_ns=7)
    s.close()
    rows = list(csv.reader(p.open()))
    assert rows[0] == ["t_us", "origin_ns", "wall_ns", "safe", "a", "b"]
    assert len(rows) == 51 and rows[-1][3] == "1" and rows[1][3] == "0"
    assert float(rows[4][5]) == -3 / 3 and int(rows[4][0]) == 3000


def test_stdout_sink_json_lines_never_blocks_on_a_stuck_writer():
    gate = threading.Event()

    class Stuck(io.StringIO):
        def write(self, s):
            gate.wait(10)
            return super().write(s)

    buf = Stuck()
    s = SINKS.create("stdout", stream=buf, queue=4)
    for k in range(100):  # the writer thread is stuck: publish must still return, dropping the oldest
        s.publish(np.array([float(k)]), k)
    assert s.stats()["dropped"] >= 100 - 4 - 1
    gate.set()
    assert s.flush(10)
    s.close()
    recs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert recs[-1]["values"] == [99.0] and recs[-1]["t_us"] == 99


def test_zmq_pub_sink_sends_protocol_messages():
    ctx = zmq.Context.instance()
    s = SINKS.create("zmq_pub", endpoint="tcp://127.0.0.1:*", stream="ctl")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(s.endpoint)
    got = []

    def recv():  # PUB/SUB joins late: publish until something arrives
        s.publish(np.array([1.5, 2.5]), 123, safe=True, names=["x", "y"], origin_ns=9)
        if sub.poll(20):
            got.append(unpack(sub.recv()))
        return got

    wait_for(recv, 10, "a message on the SUB socket")
    m = got[0]
    assert m.kind == "control" and m.stream == "ctl" and m.t_us == 123 and m.origin_ns == 9
    assert np.array_equal(m.body.values, [1.5, 2.5]) and m.body.safe and m.body.names == ["x", "y"]
    s.close()
    sub.close(0)
    with pytest.raises(ValueError, match="endpoint"):
        SINKS.create("zmq_pub", endpoint="nowhere")


def test_lsl_outlet_with_a_real_inlet():
    pylsl = pytest.importorskip("pylsl")
    name = f"spikestream-test-{np.random.default_rng().integers(1 << 30)}"
    s = SINKS.create("lsl", name=name, source_id=name)
    s.open(2, ["grip", "wrist"])
    streams = pylsl.resolve_byprop("name", name, 1, 10.0)
    assert streams, "the LSL outlet was not found on loopback"
    inlet = pylsl.StreamInlet(streams[0])
    inlet.open_stream(10.0)
    info = inlet.info(10.0)
    assert info.channel_count() == 3
    ch = info.desc().child("channels").child("channel")
    labels = []
    while not ch.empty():
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling()
    assert labels == ["grip", "wrist", "safe"]
    got = []

    def pull():
        s.publish(np.array([0.25, -0.5]), 1, safe=True)
        smp, ts = inlet.pull_sample(timeout=0.05)
        if smp is not None:
            got.append(smp)
        return got

    wait_for(pull, 15, "an LSL sample")
    assert got[0] == [0.25, -0.5, 1.0]
    # the inlet goes first: liblsl tearing down an outlet while an inlet in the same process still reads from it
    # crashed the interpreter once (SIGSEGV in StreamOutlet.__del__, CI 2026-12-07); across processes, as in
    # use, a reader's connection just ends
    inlet.close_stream()
    del inlet
    s.close()


def test_drop_oldest_requeue_front_and_drop_where():
    q = DropOldest(5)
    for k in (5, 6, 7):
        q.put(k)
    q.requeue_front([1, 2, 3, 4])  # only two fit: the oldest two are dropped
    assert q.get_all(0) == [3, 4, 5, 6, 7] and q.dropped == 2
    for k in range(5):
        q.put(k)
    assert q.drop_where(lambda v: v % 2 == 0) == 3 and q.get_all(0) == [1, 3]
