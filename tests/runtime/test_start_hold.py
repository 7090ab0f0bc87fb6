"""A reader that is still starting holds its sender's start past start_wait_s (issue 13: a first start compiles
for longer than 30 s on a slow board, and the source used to start anyway, its first data lost): the reader's
warm() here blocks until the test lets it go, far past the source's start_wait_s = 0.5 s. The source says once
that it waits for a reader alive and still starting, sends nothing meanwhile, and once the reader is ready its
first sample (value 0) arrives. A reader that dies while starting holds nothing more: the source starts."""

import json
import os
import signal
import subprocess
import sys
import textwrap

from runtime_helpers import ep, node_table, wait_for, write_pipeline

PY = sys.executable

READER = """
    import logging, os, sys, time
    from spikestream.nodes.testing import Recorder
    from spikestream.runtime import pipeline
    from spikestream.runtime.loop import NodeRunner

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    warming, release = sys.argv[2], sys.argv[3]

    def slow_warm(self):  # a first start compiling for a long time: until the test releases it (bounded)
        open(warming, "w").close()
        end = time.monotonic() + 120
        while not os.path.exists(release) and time.monotonic() < end:
            time.sleep(0.01)

    Recorder.warm = slow_warm
    spec = pipeline.load(sys.argv[1], resolve_auto=False).nodes["rec"]
    sys.exit(NodeRunner(spec).run())
"""


def rig(tmp_path, relay=False):
    """src -> rec, or src -> relay -> rec; rec's warm() lasts until the test touches `release`."""
    out = tmp_path / "rec.json"
    tables = [node_table("src", "ramp_source", outputs={"out": ep()}, params="rate_hz = 500", extra="start_wait_s = 0.5")]
    if relay:
        tables.append(node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": ep()},
                                 extra="start_wait_s = 0.5"))
    tables.append(node_table("rec", "recorder", inputs={"in": "relay.out" if relay else "src.out"}, control=ep(),
                             params=f'path = "{out}"', extra="start_wait_s = 0.5"))
    p = write_pipeline(tmp_path, *tables)
    warming, release = tmp_path / "warming", tmp_path / "release"
    reader = subprocess.Popen([PY, "-c", textwrap.dedent(READER), str(p), str(warming), str(release)],
                              stderr=open(tmp_path / "rec.log", "w"))
    return p, out, warming, release, reader


def source(tmp_path, p, name="src"):
    log = tmp_path / f"{name}.log"
    return subprocess.Popen([PY, "-m", "spikestream", "node", str(p), name], stderr=open(log, "w")), log


def stop(*procs):
    for q in procs:
        q.send_signal(signal.SIGTERM)
    for q in procs:
        try:
            q.wait(timeout=20)
        except subprocess.TimeoutExpired:
            q.kill()
            q.wait()


def held(tmp_path):
    """src -> rec, rec in its warm() and the source holding its start for it."""
    p, out, warming, release, reader = rig(tmp_path)
    src, log = source(tmp_path, p)
    try:
        wait_for(warming.exists, what="the reader in its warm()", timeout=60)
        wait_for(lambda: "alive and still starting" in log.read_text(), what="the source's hold line", timeout=60)
    except AssertionError:
        stop(src, reader)
        raise
    return src, log, reader, release, out


def test_a_reader_still_compiling_holds_the_source_past_start_wait_s(tmp_path):
    src, log, reader, release, out = held(tmp_path)
    try:
        text = log.read_text()
        assert "past start_wait_s = 0.5 s" in text and "output 'out' (read by rec.in): starting rec" in text, text
        assert "running;" not in text and "first message out" not in text, text  # held: nothing sent
        release.touch()
        wait_for(lambda: out.exists() and json.loads(out.read_text())["n"] > 10, what="samples at the reader",
                 timeout=60)
        assert json.loads(out.read_text())["values"][0] == 0.0  # the first sample: nothing lost to the start
        assert "no subscriber" not in log.read_text()
    finally:
        stop(src, reader)
    assert src.returncode == reader.returncode == 143, (log.read_text(), (tmp_path / "rec.log").read_text())


def test_a_reader_that_dies_while_starting_holds_nothing(tmp_path):
    src, log, reader, _, _ = held(tmp_path)
    try:
        reader.kill()  # its connection goes, and with it its "starting" subscription
        reader.wait()
        wait_for(lambda: "running;" in log.read_text(), what="the source started", timeout=30)
        assert "no subscriber on output 'out'" in log.read_text()
    finally:
        stop(src)


def test_the_hold_passes_up_a_chain(tmp_path):
    """src -> relay -> rec: the relay, warm and past its own start_wait_s, still says it is starting under
    rec's name while rec compiles, so the source holds too."""
    p, out, warming, release, reader = rig(tmp_path, relay=True)
    relay, relay_log = source(tmp_path, p, "relay")
    src, log = source(tmp_path, p)
    try:
        wait_for(warming.exists, what="the reader in its warm()", timeout=60)
        wait_for(lambda: "alive and still starting" in relay_log.read_text(), what="the relay's hold", timeout=60)
        wait_for(lambda: "output 'out' (read by relay.in): starting" in log.read_text(), what="the source's hold",
                 timeout=60)  # (it names relay or rec: whichever held it when its own start_wait_s ran out)
        assert "running;" not in log.read_text()
        release.touch()
        wait_for(lambda: out.exists() and json.loads(out.read_text())["n"] > 10, what="samples at the reader",
                 timeout=60)
        assert json.loads(out.read_text())["values"][0] == 0.0
        assert "no subscriber" not in log.read_text() + relay_log.read_text()
    finally:
        stop(src, relay, reader)


def test_subscription_frames_are_counted_apart_and_bounded():
    """What an output's XPUB reads: a real (un)subscription counts; a 'starting' one is remembered by name, at
    most MAX_STARTING_NAMES per port (a peer cycling through topics cannot grow the node's memory); an empty or
    odd frame changes nothing and raises nothing."""
    from spikestream.runtime.start import MAX_STARTING_NAMES, STARTING, StartMixin

    s = StartMixin()
    s._subscribers, s._starting_readers = {"out": 0}, {"out": set()}
    for frame in (b"", b"\x02", b"\x01", b"\x01\xc1starting:\xff\xfe"):
        s._subscription("out", frame)
    assert s._subscribers == {"out": 1} and len(s._starting_readers["out"]) == 1  # b"\x01": a real one
    for i in range(3 * MAX_STARTING_NAMES):
        s._subscription("out", b"\x01" + STARTING + f"n{i}".encode())
    assert len(s._starting_readers["out"]) == MAX_STARTING_NAMES
    s._subscription("out", b"\x00" + STARTING + b"n0")
    s._subscription("out", b"\x00")
    assert "n0" not in s._starting_readers["out"] and s._subscribers == {"out": 0}
