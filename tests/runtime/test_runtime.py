"""The runtime in real processes: graceful stop, restarts, no orphans, bad input survived, state kept."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from loop_helpers import samples
from runtime_helpers import command, ep, node_pids, node_table, wait_for, write_pipeline

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime import pipeline
from spikestream.runtime.supervisor import Supervisor

PY = sys.executable


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def relay_pipeline(tmp_path, rate=200, state=None):
    e = dict(src=ep(), relay=ep(), ctl=ep(), rec_ctl=ep(), src_ctl=ep())
    st = f'state = "{state}"' if state else ""
    return write_pipeline(
        tmp_path, '[pipeline]\nname = "t"\n',
        node_table("src", "ramp_source", outputs={"out": e["src"]}, control=e["src_ctl"], params=f"rate_hz = {rate}",
                   extra=st),
        node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": e["relay"]}, control=e["ctl"]),
        node_table("rec", "recorder", inputs={"in": "relay.out"}, control=e["rec_ctl"])), e


def test_node_stops_on_sigterm_within_bound(tmp_path):
    path, e = relay_pipeline(tmp_path)
    report = tmp_path / "relay.json"
    proc = subprocess.Popen([PY, "-m", "spikestream", "node", str(path), "relay", "--report", str(report)])
    try:
        wait_for(lambda: command(e["ctl"], "ping"), what="relay up")
        assert int(Path(f"/proc/{proc.pid}/timerslack_ns").read_text()) == 1000  # its timers fire on time
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=5)
        assert code == 143  # EX_STOPPED: stopped on request, not finished (a supervisor restarts it)
        assert time.monotonic() - t < 3.0  # tick (10 ms) + bounded linger (500 ms), with slack for a slow CI
        assert json.loads(report.read_text())["node"] == "relay"
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def relay_between_sockets(tmp_path):
    """The relay of `relay_pipeline` alone in its own process, up and answering: we play its source through
    `upstream` and read its output through `down`. Yields (endpoints, process, upstream, down)."""
    path, e = relay_pipeline(tmp_path)
    ctx = zmq.Context.instance()
    upstream = transport.pub(ctx, e["src"])
    down = transport.sub(ctx, [e["relay"]])
    proc = subprocess.Popen([PY, "-m", "spikestream", "node", str(path), "relay"])
    try:
        wait_for(lambda: command(e["ctl"], "ping"), what="relay up")
        yield e, proc, upstream, down
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        upstream.close(0)
        down.close(0)


def test_malformed_and_unexpected_messages_are_counted_not_fatal(tmp_path):
    with relay_between_sockets(tmp_path) as (e, proc, upstream, down):

        def good(seq, t):
            return samples("x.out", seq, t)

        bad = [b"", b"\xff\x00garbage", good(0, 10)[:-3], P.pack(P.Message(P.Command("x"), "x.out", 0)),
               msgpack_with_version(2), good(1, 5_000_000_000)]
        received = []

        def pump():
            for f in bad:
                upstream.send(f)
            upstream.send(good(2, 4))  # older than the last accepted message -> rejected
            upstream.send(good(5, 6_000_000_000))  # seq 3, 4 lost upstream -> counted as dropped
            while down.poll(50):
                received.append(P.unpack(down.recv()))
            s = command(e["ctl"], "stats").result["runtime"]
            return s if s["msgs_in"].get("in", 0) >= 2 else None

        stats = wait_for(pump, what="relay to pass the good messages")
        assert stats["rejected"] >= 5
        assert stats["dropped"] >= 2
        assert proc.poll() is None  # still serving
        assert command(e["ctl"], "ping").result == "pong"
        assert any(m.t_us == 6_000_000_000 for m in received)


def msgpack_with_version(v):
    import msgpack
    return msgpack.packb({"v": v, "kind": "samples", "stream": "x", "seq": 0, "t_us": 0, "origin_ns": 0, "body": {}})


def test_supervisor_restarts_killed_node_and_leaves_no_orphans(tmp_path):
    path, e = relay_pipeline(tmp_path)
    sup = Supervisor(pipeline.load(path), workdir=str(tmp_path / "w"))
    sup.start()
    try:
        wait_for(lambda: command(e["rec_ctl"], "count") and command(e["rec_ctl"], "count").result > 5,
                 what="data flowing")
        first = sup.pids()
        os.kill(first["relay"], signal.SIGKILL)

        def restarted():
            sup.check()
            p = sup.pids().get("relay")
            return p is not None and p != first["relay"] and sup.children["relay"].restarts == 1

        wait_for(restarted, what="relay restarted")
        n0 = command(e["rec_ctl"], "count").result
        wait_for(lambda: command(e["rec_ctl"], "count").result > n0 + 5, what="data flowing again")
        pids = list(sup.pids().values())
    finally:
        sup.shutdown()
    assert not [p for p in pids if alive(p)]


def test_killed_supervisor_takes_its_children_along(tmp_path):
    path, e = relay_pipeline(tmp_path)
    proc = subprocess.Popen([PY, "-m", "spikestream", "run", str(path)])
    try:
        wait_for(lambda: command(e["rec_ctl"], "count") and command(e["rec_ctl"], "count").result > 0, what="up")
        kids = node_pids(proc.pid)
        assert len(kids) == 3
        proc.kill()
        proc.wait()
        wait_for(lambda: not any(alive(k) for k in kids), timeout=10, what="children gone")
    finally:
        proc.kill()


def test_run_stops_cleanly_with_report_and_no_loss(tmp_path):
    path, e = relay_pipeline(tmp_path, rate=500)
    report = tmp_path / "r.json"
    proc = subprocess.Popen([PY, "-m", "spikestream", "run", str(path), "--report", str(report)])
    try:
        wait_for(lambda: (c := command(e["rec_ctl"], "count")) and c.result > 300, what="data flowing")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    r = json.loads(report.read_text())
    src, relay, rec = (r["nodes"][n]["stats"] for n in ("src", "relay", "rec"))
    assert src["msgs_out"]["out"] > 100
    # started downstream-first and stopped upstream-first: nothing is lost on the way in or out
    assert relay["msgs_in"]["in"] == src["msgs_out"]["out"] == rec["msgs_in"]["in"]
    assert rec["dropped"] == 0 and rec["rejected"] == 0
    assert rec["latency_in_ms"]["n"] == rec["msgs_in"]["in"]


def test_state_saved_on_stop_and_restored(tmp_path):
    state = tmp_path / "src.npz"
    path, e = relay_pipeline(tmp_path, state=state)
    down = transport.sub(zmq.Context.instance(), [e["src"]])
    for _ in range(2):
        while down.poll(0):
            down.recv()  # what the first run sent
        p = subprocess.Popen([PY, "-m", "spikestream", "node", str(path), "src"])
        try:
            wait_for(lambda: down.poll(50) and down.recv(), what="src sending")
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=10) == 143  # EX_STOPPED
        k = int(np.load(state)["k"])
        assert k > 0
        if _ == 0:
            first = k
    assert k > first  # the second run went on from where the first stopped


@pytest.mark.parametrize("body,match", [
    ('[nodes.a]\nkind = "nope"', "unknown node kind 'nope'"),
    ('[nodes.a]\nkind = "relay"\noutputs = { out = "tcp://127.0.0.1:1" }', "input 'in' is not wired"),
    ('[nodes.a]\nkind = "relay"\ninputs = { in = "b.out" }\noutputs = { out = "tcp://127.0.0.1:1" }', "no output 'b.out'"),
    ('[nodes.a]\nkind = "ramp_source"\noutputs = { wrong = "tcp://127.0.0.1:1" }', "has no output 'wrong'"),
    ('[nodes.a]\nkind = "ramp_source"\noutputs = { out = "udp://x:1" }', "scheme"),
    ('[nodes.a]\nkind = "ramp_source"\nfrob = 1\noutputs = { out = "tcp://127.0.0.1:1" }', "unknown key"),
    ('[nodes.a]\nkind = "ramp_source"\noutputs = { out = "tcp://127.0.0.1:1" }\n'
     '[nodes.b]\nkind = "ramp_source"\noutputs = { out = "tcp://127.0.0.1:1" }', "bound twice"),
    ('[nodes.a\nkind=', "not valid TOML"),
])
def test_bad_pipeline_files_name_the_problem(tmp_path, body, match):
    p = write_pipeline(tmp_path, body)
    with pytest.raises(pipeline.PipelineError, match=match):
        pipeline.load(p)


def test_bad_node_params_exit_with_config_error_and_are_not_restarted(tmp_path):
    p = write_pipeline(tmp_path, f'[nodes.a]\nkind = "ramp_source"\noutputs = {{ out = "{ep()}" }}\nparams = {{ fail_setup = "no sensor" }}')
    r = subprocess.run([PY, "-m", "spikestream", "run", str(p), "--duration", "20", "--report", str(tmp_path / "r.json")],
                       timeout=60, capture_output=True, text=True)
    assert r.returncode == 78  # EX_CONFIG: the pipeline cannot run as configured
    rep = json.loads((tmp_path / "r.json").read_text())["nodes"]["a"]
    assert rep["state"] == "failed" and rep["restarts"] == 0 and rep["exit_codes"] == [78]
    assert "no sensor" in r.stderr  # (a parameter the file's declarations refuse stops `run` at load: test_check_cli)


def test_restarted_upstream_is_followed_even_when_its_clock_begins_again(tmp_path):
    with relay_between_sockets(tmp_path) as (e, proc, upstream, down):
        got = []

        def pump():
            for seq, t in [(0, 1000), (1, 2000), (2, 3000), (0, 100), (1, 200)]:  # the sender restarted at seq 1->0
                upstream.send(samples("x.out", seq, t))
            while down.poll(50):
                got.append(P.unpack(down.recv()).t_us)
            return [100, 200] == got[-2:] and got

        wait_for(pump, what="the restarted stream passed")
        s = command(e["ctl"], "stats").result["runtime"]
        assert s["upstream_restarts"] >= 1
        assert s["rejected"] == 0


def test_real_time_settings_are_applied_to_the_node_process(tmp_path):
    ctl = ep()
    p = write_pipeline(tmp_path, f'[nodes.a]\nkind = "recorder"\ninputs = {{ in = "{ep()}" }}\ncontrol = "{ctl}"\n'
                                 f'cpus = [0]\nrt_priority = 10')
    proc = subprocess.Popen([PY, "-m", "spikestream", "node", str(p), "a"])
    try:
        wait_for(lambda: command(ctl, "ping"), what="node up")
        assert os.sched_getaffinity(proc.pid) == {0}
        if os.geteuid() == 0:  # SCHED_FIFO needs CAP_SYS_NICE; CI runs as root
            assert os.sched_getscheduler(proc.pid) == os.SCHED_FIFO
            assert os.sched_getparam(proc.pid).sched_priority == 10
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
