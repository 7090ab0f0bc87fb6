"""`spikestream run` on a terminal shows `top`'s table at the bottom with every log line whole above it
(run under a pseudo-terminal); off when stdout is not a terminal and with --no-view."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

from runtime_helpers import ep, node_table, write_pipeline

PY = sys.executable
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [DIWEC] spikestream\.[\w.]+: \S")


def pipeline(tmp_path, params="rate_hz = 200"):
    return write_pipeline(tmp_path, node_table("src", "ramp_source", outputs={"out": ep()}, control=ep(), params=params),
                          node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": ep()}, control=ep()))


def run_on_a_terminal(args, timeout_s=60):
    """Run `spikestream run ARGS` with stdout and stderr on a 160x40 pseudo-terminal; (exit code, raw bytes)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "COLUMNS": "160", "LINES": "40"}  # pytest's own COLUMNS would narrow the table
    proc = subprocess.Popen([PY, "-m", "spikestream", "run", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, close_fds=True, env=env)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other end closed (the process exited)
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, bytes(out)


def plain_lines(raw: bytes) -> list[str]:
    text = ANSI.sub(b"", raw).replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode("utf-8", "replace")
    return text.split("\n")


def test_run_on_a_terminal_shows_the_table_with_log_lines_above(tmp_path):
    # the source ends after 3 s of data: the supervisor says so (its own log lines) and the run ends
    p = pipeline(tmp_path, "rate_hz = 200, limit = 600")
    code, raw = run_on_a_terminal([str(p), "--duration", "30", "--workdir", str(tmp_path / "w")])
    assert code == 0, raw[-3000:]
    lines = plain_lines(raw)
    frames = sum("spikestream run p  (2 nodes" in x for x in lines)
    assert frames >= 4, f"{frames} frames in a 3 s run"  # refreshed every 0.25 s (bound for a busy machine)
    header = [x for x in lines if re.search(r"node\s+state\s+in/s\s+out/s\s+drops", x)]
    assert header, "\n".join(lines[-40:])
    rows = [x for x in lines if re.match(r"\s*relay\s+answering\s+\d", x)]
    assert rows, "the relay's row never showed it answering"
    # the nodes' own log lines come through whole, each on its line, and the supervisor's too
    for want in ("spikestream.relay: relay (relay) set up in", "spikestream.src: first message out on 'out'"):
        hits = [x for x in lines if want in x]
        assert hits and all(LOG_LINE.match(x.strip()) for x in hits), (want, hits)
    sup = [x for x in lines if "spikestream.supervisor: node src finished (its data ended)" in x]
    assert sup and all(LOG_LINE.match(x.strip()) for x in sup)
    # the last frame shows the supervisor's final states
    assert re.search(r"\n\s*src\s+finished\s.*\n\s*relay\s+finished\s", "\n".join(lines[-12:]))
    assert (tmp_path / "w" / "logs" / "relay.log").read_text().count("set up in") == 1  # kept on disk


def test_no_view_when_stdout_is_not_a_terminal_or_with_no_view(tmp_path):
    p = pipeline(tmp_path)
    r = subprocess.run([PY, "-m", "spikestream", "run", str(p), "--duration", "2"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "in/s" not in r.stdout + r.stderr and "relay (relay) set up in" in r.stderr
    code, raw = run_on_a_terminal([str(p), "--duration", "2", "--no-view"])
    lines = plain_lines(raw)
    assert code == 0 and not any("in/s" in x for x in lines)
    assert any("relay (relay) set up in" in x for x in lines)


def test_node_logs_are_merged_by_time_whole_lines_only(tmp_path, capsys):
    from types import SimpleNamespace

    from spikestream.runtime.top import RunView

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("2025-12-31 09:00:00,000 I spikestream.a: an earlier run's line (not shown)\n")
    sup = SimpleNamespace(workdir=tmp_path, pipeline=SimpleNamespace(nodes={}, curve_keys=None, name="p"), children={})
    view = RunView(sup)
    try:
        with open(logs / "a.log", "a") as f:
            f.write("2026-01-01 10:00:00,100 I spikestream.a: one\n"
                    "2026-01-01 10:00:00,300 E spikestream.a: boom\nTraceback (most recent call last):\n"
                    "  ValueError: x\n2026-01-01 10:00:00,500 I spikestream.a: par")
        (logs / "b.log").write_text('{"t": "2026-01-01T10:00:00.200", "msg": "two"}\n'
                                    "2026-01-01 10:00:00,400 I spikestream.b: four\n")
        view._tail()
        got = capsys.readouterr().err.splitlines()
        assert got == ["2026-01-01 10:00:00,100 I spikestream.a: one", '{"t": "2026-01-01T10:00:00.200", "msg": "two"}',
                       "2026-01-01 10:00:00,300 E spikestream.a: boom", "Traceback (most recent call last):",
                       "  ValueError: x", "2026-01-01 10:00:00,400 I spikestream.b: four"]
        with open(logs / "a.log", "a") as f:  # the partial line is printed once it is whole
            f.write("tial\n")
        view._tail()
        assert capsys.readouterr().err == "2026-01-01 10:00:00,500 I spikestream.a: partial\n"
    finally:
        view.watcher.close()
