"""systemd integration: the sd_notify protocol (runtime/sdnotify.py) against a real AF_UNIX datagram socket,
the supervisor and a lone node speaking it (READY=1, WATCHDOG=1, STOPPING=1), and the unit files in
deploy/systemd/ judged by `systemd-analyze security` and `systemd-analyze verify` (docs/deploy.md)."""

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from runtime_helpers import ep, node_table, write_pipeline

from spikestream.runtime import sdnotify

PY = sys.executable
UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNIT_FILES = [UNITS / "spikestream.service", UNITS / "spikestream-node@.service"]


class Listener:
    """What systemd does with $NOTIFY_SOCKET: a bound datagram socket; also takes each sender's pid
    (SO_PASSCRED), which is how systemd applies NotifyAccess=main."""

    def __init__(self, addr):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(addr)

    def recv(self, timeout=2.0):
        """(datagram, sender pid), or None after `timeout`."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = next((struct.unpack("iII", d[:12])[0] for lvl, typ, d in anc
                    if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS), None)
        return data, pid

    def close(self):
        self.sock.close()


@pytest.fixture
def listener(monkeypatch):
    d = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")  # an AF_UNIX path must stay under 108 bytes
    path = os.path.join(d, "notify")
    ln = Listener(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    for k in ("WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(k, raising=False)
    yield ln
    ln.close()
    shutil.rmtree(d, ignore_errors=True)


def test_each_message_arrives_with_the_exact_bytes(listener):
    assert sdnotify.notify("X=1\nY=two")
    assert listener.recv() == (b"X=1\nY=two", os.getpid())
    assert sdnotify.ready()
    assert listener.recv()[0] == b"READY=1"
    assert sdnotify.ready("running 3 nodes")
    assert listener.recv()[0] == b"READY=1\nSTATUS=running 3 nodes"
    assert sdnotify.status("node a\nrestarting")  # a newline would start a new field
    assert listener.recv()[0] == b"STATUS=node a restarting"
    assert sdnotify.stopping()
    assert listener.recv()[0] == b"STOPPING=1"


def test_an_abstract_socket_address(monkeypatch):
    name = f"spikestream-test-{os.getpid()}-{time.monotonic_ns()}"
    ln = Listener(b"\0" + name.encode())
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("READY=1")
        assert ln.recv()[0] == b"READY=1"
    finally:
        ln.close()


def test_outside_systemd_everything_is_a_no_op(monkeypatch, tmp_path):
    for k in sdnotify.ENV_VARS:
        monkeypatch.delenv(k, raising=False)
    assert not sdnotify.notify("READY=1")
    assert not sdnotify.ready() and not sdnotify.stopping() and not sdnotify.status("x")
    assert sdnotify.watchdog_interval_s() is None
    hb = sdnotify.Heartbeat()
    assert hb.period_s is None and not hb.beat()
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/socket")  # neither a path nor '@': ignored
    assert not sdnotify.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))  # an error is False, never raised
    assert not sdnotify.notify("READY=1")


@pytest.mark.parametrize("usec, pid, expected", [
    ("10000000", None, 10.0),
    ("250000", "self", 0.25),
    ("10000000", "other", None),  # the watchdog is another process's (a child that inherited it)
    ("10000000", "junk", None),
    ("0", None, None),
    ("-5", None, None),
    ("ten", None, None),
    (None, None, None),
])
def test_watchdog_interval(monkeypatch, usec, pid, expected):
    for k, v in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", {"self": str(os.getpid()), "other": str(os.getpid() + 1)}
                                                            .get(pid, pid))):
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    assert sdnotify.watchdog_interval_s() == expected


def test_heartbeat_pings_at_half_the_interval(listener, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    hb = sdnotify.Heartbeat()
    assert hb.period_s == pytest.approx(0.2)
    assert hb.beat()  # the first call pings at once
    assert listener.recv()[0] == b"WATCHDOG=1"
    assert not hb.beat()  # then only a clock check until half the interval has passed
    assert listener.recv(timeout=0.05) is None
    time.sleep(0.25)
    assert hb.beat()
    assert listener.recv()[0] == b"WATCHDOG=1"


def test_a_child_does_not_inherit_the_notify_variables():
    env = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "1", "PATH": "/bin"}
    assert sdnotify.child_env(env) == {"PATH": "/bin"}


def chain(tmp_path):
    return write_pipeline(tmp_path, node_table("src", "ramp_source", outputs={"out": ep()}, params="rate_hz = 200"),
                          node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": ep()}))


def collect(listener, proc, timeout):
    """Every (datagram, pid) until `proc` exits (and what it sent last has been read)."""
    got, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        m = listener.recv(timeout=0.2)
        if m is not None:
            got.append(m)
        elif proc.poll() is not None:
            return got
    raise AssertionError(f"still running after {timeout} s; got {got}")


def run_collecting(listener, args, env):
    """`spikestream ARGS` to its end (exit 0), and every (datagram, pid) it sent the listener meanwhile."""
    proc = subprocess.Popen([PY, "-m", "spikestream", *args], env=env, stderr=subprocess.PIPE, text=True)
    try:
        got = collect(listener, proc, timeout=60)
    finally:
        proc.kill()
        err = proc.communicate()[1]
    assert proc.returncode == 0, err
    return proc, got


def test_the_supervisor_says_ready_pings_the_watchdog_and_says_stopping(listener, tmp_path):
    env = {**os.environ, "WATCHDOG_USEC": "1000000"}  # a ping every 0.5 s
    proc, got = run_collecting(listener, ["run", str(chain(tmp_path)), "--duration", "8", "--workdir",
                                          str(tmp_path / "wd")], env)
    # NotifyAccess=main: everything comes from the supervisor itself, nothing from its nodes
    assert {pid for _, pid in got} == {proc.pid}, got
    msgs = [m for m, _ in got]
    ready = [i for i, m in enumerate(msgs) if m.startswith(b"READY=1\n")]
    assert len(ready) == 1 and msgs[ready[0]] == b"READY=1\nSTATUS=running 2 nodes", msgs
    assert msgs[0] == b"STATUS=starting 2 nodes"
    pings = [i for i, m in enumerate(msgs) if m == b"WATCHDOG=1"]
    assert len(pings) >= 8, msgs  # ~16 in 8 s
    assert any(i > ready[0] for i in pings)
    assert msgs[-1].startswith(b"STOPPING=1\nSTATUS=stopping (duration)"), msgs
    assert max(pings) < len(msgs) - 1  # no ping after the stop


def test_a_lone_node_says_ready_pings_the_watchdog_and_says_stopping(listener, tmp_path):
    env = {**os.environ, "WATCHDOG_USEC": "400000"}
    proc, got = run_collecting(listener, ["node", str(chain(tmp_path)), "relay", "--duration", "3"], env)
    assert {pid for _, pid in got} == {proc.pid}
    msgs = [m for m, _ in got]
    assert msgs[0] == b"READY=1\nSTATUS=relay (relay) running", msgs
    assert msgs.count(b"WATCHDOG=1") >= 5, msgs  # ~15 in 3 s
    assert msgs[-1] == b"STOPPING=1", msgs


# ---------------------------------------------------------------------------------------- the unit files
def analyze(*args):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd; `make system-deps`)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("unit", UNIT_FILES, ids=lambda p: p.name)
def test_unit_exposure_is_at_most_4(unit):
    r = analyze("security", "--offline=yes", str(unit))
    if "--offline" in r.stderr and "unrecognized" in r.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 4.0, r.stdout


MISSING_BINARY = re.compile(r"Command \S+ is not executable: No such file or directory")


@pytest.mark.parametrize("unit", UNIT_FILES, ids=lambda p: p.name)
def test_units_verify_clean(unit, tmp_path):
    # as shipped: nothing but the missing install (/opt/spikestream) is reported
    r = analyze("verify", "--man=no", str(unit))
    left = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip() and not MISSING_BINARY.search(ln)]
    assert not left, r.stdout + r.stderr
    # with the binary pointed at one that exists here: no message at all
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/spikestream/.venv/bin/spikestream", PY))
    r = analyze("verify", "--man=no", str(copy))
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_verify_would_catch_a_bad_directive(tmp_path):
    """The check above is not vacuous: a misspelt key or a bad value is reported."""
    unit = tmp_path / "bad.service"
    unit.write_text(f"[Service]\nExecStart={PY}\nProtectSytem=strict\nRestrictAddressFamilies=AF_BOGUS\n")
    out = analyze("verify", "--man=no", str(unit))
    text = out.stdout + out.stderr
    assert "ProtectSytem" in text and "AF_BOGUS" in text, text
