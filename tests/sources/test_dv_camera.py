"""The dv_camera node against dv-processing itself: its NetworkWriter (in its own process, tests/sources/
dv_writer.py) streams an AEDAT 4 recording that dv-processing wrote from its own event generator, and the
node must put out exactly those events (x, y, t, polarity), in order, none dropped, as slices of the
event_camera replay's kind. Then the bad cases: the writer killed mid-stream (one WARNING, a reconnection,
the rest of the stream arrives), a writer that is not an event stream (the node does not start: exit 78
through `spikestream run`), a host nobody serves (a WARNING naming it, retries with backoff, the node
keeps serving), no camera plugged in, dv-processing not installed. Camera capture itself needs hardware
and is not tested here."""

import logging
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sources_live_helpers import wait_for

from spikestream.testing import NodeHarness

dv = pytest.importorskip("dv_processing")

W, H = 64, 48
N_BATCHES, PER_BATCH = 20, 500
WRITER = Path(__file__).with_name("dv_writer.py")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """An AEDAT 4 file dv-processing wrote: 20 batches of 500 of its uniformly generated events, batch k in
    [1 s + 12 k ms, + 10 ms) (2 ms apart: a slice never spans two batches). Returns (path, the events as
    dv reads them back, as x, y, t, p)."""
    path = tmp_path_factory.mktemp("dv") / "rec.aedat4"
    w = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("DVXplorer_test", (W, H)))
    for k in range(N_BATCHES):
        w.writeEvents(dv.data.generate.uniformEventsWithinTimeRange(1_000_000 + 12_000 * k, timedelta(milliseconds=10),
                                                                   (W, H), PER_BATCH, k))
    del w  # closes the file
    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while (b := rec.getNextEventBatch()) is not None:
        parts.append(b.numpy())
    d = np.concatenate(parts)
    assert d.size == N_BATCHES * PER_BATCH and (np.diff(d["timestamp"]) >= 0).all()
    return path, {"x": d["x"].astype(np.int64), "y": d["y"].astype(np.int64), "t": d["timestamp"].astype(np.int64),
                  "p": (d["polarity"] != 0).astype(np.int64)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def writer(port, mode, path=None):
    """dv_writer.py serving on `port`; yields the process once it listens; killed at the end."""
    p = subprocess.Popen([sys.executable, str(WRITER), str(port), mode, *([str(path)] if path else [])],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "listening", "the dv writer did not start"
        yield p
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(10)


@contextmanager
def node_reading(mode, path, **params):
    """A dv_camera node (`params`) reading dv_writer.py in `mode` on a free port: yields (the harness, the writer
    process); at the end the node is closed, then the writer killed."""
    port = _free_port()
    with writer(port, mode, path) as wp:
        h = NodeHarness("dv_camera", {**params, "address": f"127.0.0.1:{port}"})
        try:
            yield h, wp
        finally:
            h.node.close()


def release(wp):
    """Let a "file" writer exit (once the reader has every event)."""
    wp.stdin.write("exit\n")
    wp.stdin.flush()


def _finish(h, wp):
    """Let a "file" writer exit and poll until the node has put out the stream's last slice."""
    release(wp)
    _poll_until(h, lambda: h.node.finished)


def _poll_until(h, cond, timeout_s=30.0):
    def step():
        h.node.poll(time.time_ns())
        return cond()

    assert wait_for(step, timeout_s), f"timed out; counters {h.node.counters}"


def _events_out(h):
    ev = h.emitted["events"]
    return {k: np.concatenate([getattr(e, k) for e in ev]).astype(np.int64) for k in ("x", "y", "t", "p")}


def _assert_events(h, want, n=None):
    """The node put out the first `n` (all) of the recording's events, in order."""
    got = _events_out(h)
    for k in "xytp":
        np.testing.assert_array_equal(got[k], want[k][:n], err_msg=k)


def _check_slices(h, slice_us):
    """Consecutive slices of `slice_us` on the grid, spikes = the events' neuron indices ("both")."""
    sp, ev = h.emitted["out"], h.emitted["events"]
    assert len(sp) == len(ev) > 0
    t0 = np.array([s.t0_us for s in sp])
    assert (np.array([s.t1_us for s in sp]) - t0 == slice_us).all() and (np.diff(t0) == slice_us).all()
    assert (t0 % slice_us == 0).all() and all(s.n_neurons == 2 * W * H for s in sp)
    for s, e in zip(sp, ev):
        assert ((e.t >= s.t0_us) & (e.t < s.t1_us)).all()
        np.testing.assert_array_equal(s.idx, (e.p.astype(np.int64) * H + e.y) * W + e.x)
        np.testing.assert_array_equal(s.t_us, e.t)


def test_every_event_a_dv_network_writer_streams_comes_out_in_order(recording):
    path, want = recording
    with node_reading("file", path, emit_events=True, slice_us=1000, reconnect=False, chunk_events=700,
                      max_events_per_poll=1500) as (h, wp):
        assert h.node.src.connected and (h.node.src.width, h.node.src.height) == (W, H)
        assert h.node.src.name == "DVXplorer_test"
        assert wp.stdout.readline().strip() == "sent"
        _poll_until(h, lambda: h.node.counters["events_in"] == N_BATCHES * PER_BATCH)
        assert not h.node.finished  # live: the stream is still open
        _finish(h, wp)
    _assert_events(h, want)
    c = h.node.counters
    assert c["events_in"] == c["events_kept"] == N_BATCHES * PER_BATCH
    assert c["late_events"] == c["reordered_events"] == c["overflow_events"] == c["rejected_events"] == 0
    _check_slices(h, 1000)
    assert h.emitted["out"][-1].t1_us == (want["t"][-1] // 1000 + 1) * 1000  # the last slice, at the end


def test_writer_killed_mid_stream_logs_once_reconnects_and_nothing_is_lost(recording, caplog):
    """The writer dies (SIGKILL) after half the batches; a new writer on the same port serves the second
    half and dies too: one WARNING per loss, a reconnection each time, and every event of both halves, in
    order, with the slice holding each stream's last event sent when that stream ends."""
    path, want = recording
    port = _free_port()
    half = (N_BATCHES // 2) * PER_BATCH
    with caplog.at_level(logging.INFO):
        with writer(port, "half", path) as wp:
            h = NodeHarness("dv_camera", {"address": f"127.0.0.1:{port}", "emit_events": True, "slice_us": 1000,
                                          "retry_s": 0.05, "max_retry_s": 0.2})
            assert wp.stdout.readline().strip() == "half"
            _poll_until(h, lambda: h.node.counters["events_in"] == half)
            wp.send_signal(signal.SIGKILL)
            wp.wait(10)
            # the slice holding the first half's last event goes out when the stream ends
            _poll_until(h, lambda: h.node.counters["reconnects"] == 1
                        and sum(e.x.size for e in h.emitted["events"]) == half)
        try:
            assert not h.node.src.connected
            for _ in range(20):  # no writer: the node keeps serving (nothing)
                h.node.poll(time.time_ns())
            with writer(port, "second", path) as wp2:
                assert wp2.stdout.readline().strip() == "sent"
                _poll_until(h, lambda: h.node.counters["events_in"] == N_BATCHES * PER_BATCH)
                # live: the last slice waits for a later event, or for the end of the stream
                assert sum(e.x.size for e in h.emitted["events"]) < N_BATCHES * PER_BATCH
                wp2.send_signal(signal.SIGKILL)
                wp2.wait(10)
                _poll_until(h, lambda: h.node.counters["reconnects"] == 2
                            and sum(e.x.size for e in h.emitted["events"]) == N_BATCHES * PER_BATCH)
        finally:
            h.node.close()
    _assert_events(h, want)
    assert h.node.counters["late_events"] == h.node.counters["reordered_events"] == 0
    lost = [r for r in caplog.records if "ended (writer gone" in r.getMessage()]
    assert len(lost) == 2 and all(r.levelno == logging.WARNING for r in lost)  # one line per loss
    assert sum("dv_camera: connected to network stream" in r.getMessage() for r in caplog.records) == 2
    _check_slices(h, 1000)


def test_a_stream_that_is_not_events_is_refused_at_setup():
    port = _free_port()
    with writer(port, "frames"):
        with pytest.raises(ValueError, match=rf"network stream 127\.0\.0\.1:{port} serves no event stream "
                                             r"\(Frame instead\); point the node at an event output"):
            NodeHarness("dv_camera", {"address": f"127.0.0.1:{port}"})


def test_a_stream_that_is_not_events_exits_78(tmp_path):
    port = _free_port()
    p = tmp_path / "p.toml"
    p.write_text(f'[nodes.cam]\nkind = "dv_camera"\noutputs = {{ out = "tcp://127.0.0.1:auto" }}\n'
                 f'params = {{ address = "127.0.0.1:{port}" }}\n')
    with writer(port, "frames"):
        r = subprocess.run([sys.executable, "-m", "spikestream", "run", str(p), "--duration", "30", "--no-view"],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 78, r.stderr[-2000:]
    assert "serves no event stream" in r.stderr


def test_nobody_serving_the_address_warns_retries_with_backoff_and_keeps_serving(caplog):
    port = _free_port()
    with caplog.at_level(logging.WARNING):
        h = NodeHarness("dv_camera", {"address": f"127.0.0.1:{port}", "retry_s": 0.05, "max_retry_s": 0.4,
                                      "connect_wait_s": 5})
    try:
        src = h.node.src
        assert not src.connected and h.node.slicer is None  # no sensor size yet: nothing to build
        line = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(line) == 1, caplog.text
        assert line[0].getMessage() == (f"dv_camera: network stream 127.0.0.1:{port} not available: connect: "
                                         "Connection refused; retrying every 0.05-0.4 s")
        t0 = time.monotonic()
        assert wait_for(lambda: src.stats["connect_attempts"] >= 5, 20)
        # waits 0.05, 0.1, 0.2, 0.4 s between the 5 attempts: at least 0.75 s (more on a busy machine)
        assert time.monotonic() - t0 >= 0.7
        h.node.poll(time.time_ns())
        assert h.out == [] and h.node.on_command("status", {})["connected"] is False
    finally:
        t0 = time.monotonic()
        h.node.close()
        assert time.monotonic() - t0 < 5


def test_no_camera_plugged_in_warns_and_retries(caplog):
    """Camera capture needs hardware; what can run here is the camera that is not there (dv's own error)."""
    assert dv.io.camera.discover() == [], "a camera is plugged in: this test expects none"
    for params, said in (({"camera": "DXA00042"}, "camera 'DXA00042' not available: Could not find device with "
                                                  "given serial number"),
                         ({}, "the first camera found not available: no camera found")):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            h = NodeHarness("dv_camera", {**params, "retry_s": 0.05, "width": W, "height": H})
        try:
            assert said in caplog.text
            assert h.node.n_neurons == 2 * W * H  # built from width / height: serving (nothing) meanwhile
            h.node.poll(time.time_ns())
            assert h.out == []
        finally:
            h.node.close()


@pytest.mark.parametrize("params, match", [
    ({"address": "localhost"}, r"address must be 'host:port'"),
    ({"address": "h:99999"}, r"address must be 'host:port'"),
    ({"address": "127.0.0.1:5", "camera": "X"}, r"give address .* or camera .*, not both"),
    ({"address": "127.0.0.1:5", "max_retry_s": 0.1}, r"max_retry_s \(0\.1\) must be >= retry_s \(1\.0\)"),
    ({"adress": "127.0.0.1:5"}, r"unknown parameter 'adress'; did you mean 'address'"),
])
def test_bad_parameters_fail_setup(params, match):
    with pytest.raises(ValueError, match=match):
        NodeHarness("dv_camera", {"connect_wait_s": 0, **params})


def test_without_dv_processing_the_error_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "dv_processing", None)  # import fails as if not installed
    with pytest.raises(ValueError, match=r"dv_camera needs dv-processing: pip install 'spikestream\[dv\]'"):
        NodeHarness("dv_camera", {"address": "127.0.0.1:5"})


def test_a_silent_stream_is_one_stall_warning_and_stays_connected(recording, caplog):
    path, _ = recording
    with caplog.at_level(logging.INFO), node_reading("stall", path, stale_s=0.3) as (h, wp):
        assert wp.stdout.readline().strip() == "sent"
        _poll_until(h, lambda: h.node.counters["stalls"] == 1)
        t_end = time.monotonic() + 1.0  # three more stale_s of silence: still one warning, still connected
        while time.monotonic() < t_end:
            h.node.poll(time.time_ns())
            time.sleep(0.01)
        assert h.node.counters["stalls"] == 1 and h.node.src.connected and h.node.counters["reconnects"] == 0
        assert h.node.counters["events_in"] == N_BATCHES * PER_BATCH
    stall = [r for r in caplog.records if "no events from network stream" in r.getMessage()]
    assert len(stall) == 1 and stall[0].levelno == logging.WARNING


def test_a_full_queue_drops_whole_batches_counts_them_and_says_so(recording, caplog):
    """The node does not read while the writer streams: the receiving thread keeps queue_events and drops
    the newest batches beyond, counted; what was kept comes out intact, in order."""
    path, want = recording
    with caplog.at_level(logging.WARNING), node_reading("file", path, emit_events=True, queue_events=1000,
                                                        reconnect=False) as (h, wp):
        assert wp.stdout.readline().strip() == "sent"
        assert wait_for(lambda: h.node.src.stats["dropped_events"] == N_BATCHES * PER_BATCH - 1000, 10)
        _finish(h, wp)
    _assert_events(h, want, 1000)
    assert h.node.counters["dropped_events"] == N_BATCHES * PER_BATCH - 1000
    full = [r for r in caplog.records if "queue from network stream" in r.getMessage()]
    # 18 batches dropped, at most one line a second (the stream lasts well under a second here)
    assert 1 <= len(full) < 18 and full[0].levelno == logging.WARNING


def test_the_pipeline_in_docs_devices_md_checks_and_its_node_reads_a_writer(tmp_path, recording):
    """docs/devices.md's example: `spikestream check` passes it as written; its node, pointed at a writer
    (only the port changed), reads the stream (the background_activity filter keeps some events)."""
    import re
    import tomllib

    doc = (Path(__file__).resolve().parents[2] / "docs" / "devices.md").read_text()
    (text,) = [b for b in re.findall(r"```toml\n(.*?)```", doc, re.S) if 'kind = "dv_camera"' in b]
    p = tmp_path / "dvs.toml"
    p.write_text(text)
    r = subprocess.run([sys.executable, "-m", "spikestream", "check", str(p)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "1 node(s) (dv_camera)" in r.stdout, r.stdout + r.stderr
    params = tomllib.loads(text)["nodes"]["cam"]["params"]
    path, want = recording
    with node_reading("file", path, **{**params, "reconnect": False}) as (h, wp):  # only the address changed
        _poll_until(h, lambda: h.node.counters["events_in"] == want["t"].size)
        _finish(h, wp)
    c = h.node.counters
    assert c["events_in"] == want["t"].size and 0 < c["events_kept"] < c["events_in"]
    assert h.node.n_neurons == (W // 8) * (H // 8) and sum(s.idx.size for s in h.emitted["out"]) == c["events_kept"]


def test_events_received_while_the_node_is_busy_survive_the_writer_exiting(recording):
    """dv's NetworkReader gives nothing once its writer has closed, also what it had received (measured: a
    reader that began reading 1 s after a 10 000-event stream whose writer exited at 0.2 s got none). The
    source's thread drains it as events arrive, so a node that did not poll meanwhile (compiling its
    kernels, say) still gets every event."""
    path, want = recording
    with node_reading("file", path, emit_events=True, reconnect=False) as (h, wp):
        assert wp.stdout.readline().strip() == "sent"
        assert wait_for(lambda: h.node.src._queued == N_BATCHES * PER_BATCH, 10)  # received, not read
        release(wp)
        assert wp.wait(10) == 0
        assert wait_for(lambda: h.node.src._thread is not None and not h.node.src._thread.is_alive(), 10)
        assert h.out == []  # not polled yet: the writer is gone and dv's reader is closed
        _poll_until(h, lambda: h.node.finished)
    _assert_events(h, want)


_FIRST_POLL = r"""
import sys, numpy as np
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.testing import NodeHarness

def loaded():
    from numba.core.dispatcher import Dispatcher
    return {(m, k, str(s)) for m, mod in list(sys.modules.items()) if m.startswith("spikestream.events")
            for k, f in vars(mod).items() if isinstance(f, Dispatcher) for s in f.signatures}

h = NodeHarness("dv_camera", {"camera": "DXA00042", "width": 64, "height": 48, "connect_wait_s": 0,
                              "filters": [{"kind": "refractory", "period_us": 500}], "emit_events": False})
before = loaded()
ev = np.zeros(100, EVENT_DTYPE)
ev["x"], ev["y"], ev["t"], ev["p"] = np.arange(100) % 64, np.arange(100) % 48, 1_000_000 + 50 * np.arange(100), 1
reads = [ev]
h.node.src.read = lambda n: reads.pop() if reads else np.zeros(0, EVENT_DTYPE)
h.node.poll(0)
assert sum(s.idx.size for s in h.emitted["out"]) > 0
print(len(before), sorted(loaded() - before))
h.node.close()
"""


def test_kernels_are_ready_before_the_first_event():
    """In a fresh process: once the node is set up (its size known), its first events need no kernel that
    setup did not already compile or load from Numba's cache."""
    r = subprocess.run([sys.executable, "-c", _FIRST_POLL], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    n_before, new = r.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(n_before) > 0 and new == "[]", r.stdout
