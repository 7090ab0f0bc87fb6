"""`spikestream top`: rows from snapshots (pure), the watcher against a fake node and a dead endpoint, and
the command against a real running pipeline (explicit endpoints, a bogus one, `:auto` ones via --workdir)."""

import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import zmq
from runtime_helpers import command, ep, node_table, wait_for, write_pipeline

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime import top

PY = sys.executable


def snap(uptime, msgs_in=None, msgs_out=None, node=None, **rt):
    return {"runtime": {"node": "n", "kind": "relay", "uptime_s": uptime, "msgs_in": msgs_in or {},
                        "msgs_out": msgs_out or {}, "dropped": 0, "send_failed": 0, "rejected": 0,
                        "latency_in_ms": {}, "latency_out_ms": {}, "cpu_busy_frac": 0.1, **rt}, "node": node}


# ------------------------------------------------------------------------------------------- pure rows

def test_rates_come_from_two_snapshots_on_the_nodes_clock():
    prev = snap(10.0, {"in": 100, "target": 10}, {"out": 50})
    cur = snap(12.0, {"in": 500, "target": 30}, {"out": 250}, dropped=3, send_failed=2, rejected=1,
               latency_in_ms={"p50": 0.4, "p99": 2.0}, latency_out_ms={"p50": 0.5, "p99": 3.0})
    r = top.node_row("relay", cur, prev)
    assert r["state"] == "answering" and r["node"] == "relay" and r["kind"] == "relay"
    assert r["in_per_s"] == 210.0 and r["out_per_s"] == 100.0
    assert r["drops"] == 5 and r["rejects"] == 1
    assert (r["p50_ms"], r["p99_ms"]) == (0.5, 3.0)  # leaving the node, when it sends
    assert r["busy"] == 0.1 and r["learning"] is None and r["snn_rate_hz"] is None
    # one snapshot only, or the uptime went back (a restarted process): no rate, the rest still shown
    assert top.node_row("relay", cur)["in_per_s"] is None
    back = top.node_row("relay", snap(1.0, {"in": 5}), prev)
    assert back["in_per_s"] is None and back["out_per_s"] is None and back["drops"] == 0
    # a sink: latency on arrival
    sink = top.node_row("sink", snap(3.0, latency_in_ms={"p50": 1.0, "p99": 9.0}))
    assert (sink["p50_ms"], sink["p99_ms"]) == (1.0, 9.0)


def test_an_snn_row_has_learning_rate_and_weight_change():
    own = {"built": True, "rates_hz": {"hidden": 4.0, "out": 2.0}, "mean_weight": {"a": 0.5, "b": 0.2},
           "weight_change": {"a": 0.01, "b": 0.03}, "learning": True, "stream_s": 12.5}
    r = top.node_row("snn", snap(5.0, {"in": 1000}, {"out": 1000}, node=own), snap(4.0, {"in": 0}, {"out": 0}))
    assert r["learning"] == "on" and r["snn_rate_hz"] == 3.0 and abs(r["weight_change"] - 0.02) < 1e-12
    assert r["in_per_s"] == 1000.0
    r = top.node_row("snn", snap(1.0, node={"built": False, "learning": False}))
    assert r["learning"] == "off" and r["snn_rate_hz"] is None and r["weight_change"] is None


def test_a_node_that_does_not_answer_shows_only_that():
    r = top.node_row("relay", snap(3.0, {"in": 9}), state="not answering", restarts=2, note="last answer 4 s ago")
    assert r["state"] == "not answering" and r["restarts"] == 2
    assert all(r[k] is None for k in ("in_per_s", "out_per_s", "drops", "rejects", "p50_ms", "busy", "learning"))
    text = top.plain([r, top.node_row("ghost", None, state="no endpoint", note=top.NO_CONTROL)])
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["node", "state", "in/s"]
    assert lines[1].startswith("relay") and "not answering" in lines[1]
    assert "ghost: no control endpoint in the file" in text


# ------------------------------------------------------------------------------------------- the watcher

def fake_node(endpoint, stop):
    """A REP socket answering `stats` like a node sending 100 messages a second, whose process restarts
    (its uptime begins again) after its fourth answer."""
    ctx = zmq.Context.instance()
    s = transport.rep(ctx, endpoint)
    t0, n = time.monotonic(), 0
    try:
        while not stop.is_set():
            if not s.poll(50):
                continue
            P.unpack(s.recv(), kinds=("command",))
            n += 1
            if n == 5:
                t0 = time.monotonic() - 0.1
            up = round(time.monotonic() - t0 + 1.0, 3)
            s.send(P.pack(P.Message(P.Reply(True, snap(up, msgs_out={"out": int(up * 100)})))))
    finally:
        s.close(0)


def test_the_watcher_reads_a_live_node_while_another_is_dead():
    live, dead = ep(), ep()
    stop = threading.Event()
    th = threading.Thread(target=fake_node, args=(live, stop), daemon=True)
    th.start()
    w = top.Watcher([top.Target("live", live, "relay"), top.Target("dead", dead, "relay"),
                     top.Target("blind", None, "relay", top.NO_CONTROL)], timeout_s=1.0)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:  # past the dead node's deadline, with the live one read meanwhile
            w.round(0.1)
        rows = {r["node"]: r for r in w.rows()}
        assert rows["live"]["state"] == "answering" and rows["live"]["restarts"] == 1
        assert 80 < rows["live"]["out_per_s"] < 120
        assert len(w.hist["live"]) > 2  # answered round after round while the other one was silent
        assert rows["dead"]["state"] == "not answering" and rows["dead"]["in_per_s"] is None
        assert rows["blind"]["state"] == "no endpoint" and rows["blind"]["restarts"] is None
        assert rows["live"]["endpoint"] == live and rows["blind"]["endpoint"] is None
    finally:
        stop.set()
        w.close()
        th.join(10)


# ------------------------------------------------------------------------------------------- real runs

def chain(tmp_path, auto=False):
    """src -> relay -> sink, each with a control endpoint, and a node without one."""
    a = (lambda: "tcp://127.0.0.1:auto") if auto else ep
    return write_pipeline(tmp_path, f'[pipeline]\nname = "top-{uuid.uuid4().hex[:8]}"\n',
                          node_table("src", "ramp_source", outputs={"out": a()}, control=a(), params="rate_hz = 200"),
                          node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": a()}, control=a()),
                          node_table("sink", "recorder", inputs={"in": "relay.out"}, control=a()),
                          node_table("blind", "recorder", inputs={"in": "relay.out"}))


def run(p, workdir=None):
    cmd = [PY, "-m", "spikestream", "run", str(p), *(["--workdir", str(workdir)] if workdir else [])]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_cmd(*args, timeout=90):
    return subprocess.run([PY, "-m", "spikestream", "top", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def parse_plain(out):
    """{node: {column: cell}} from `top --once` (columns are two or more spaces apart)."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    head = re.split(r"\s{2,}", lines[0].strip())
    rows = {}
    for ln in lines[1:]:
        cells = re.split(r"\s{2,}", ln.strip())
        if len(cells) == len(head):
            rows[cells[0]] = dict(zip(head, cells))
    return rows


def flowing(endpoint):
    r = command(endpoint, "stats", timeout=2.0)
    return r is not None and r.ok and sum(r.result["runtime"]["msgs_in"].values()) > 0


def test_top_watches_a_running_pipeline(tmp_path):
    p = chain(tmp_path)
    text = p.read_text()
    sink_ctl = re.search(r'\[nodes.sink\][^\[]*control = "([^"]+)"', text).group(1)
    bogus = ep()  # nobody binds it
    proc = run(p)
    try:
        wait_for(lambda: flowing(sink_ctl), timeout=90, what="data reaching the sink")
        t = time.monotonic()
        r = top_cmd(p, bogus, "--once", "--timeout", "3")
        assert time.monotonic() - t < 60, "top --once hung on a dead endpoint"
        assert r.returncode == 1, r.stdout + r.stderr  # one watched endpoint does not answer
        rows = parse_plain(r.stdout)
        for n in ("src", "relay", "sink"):
            assert rows[n]["state"] == "answering", r.stdout
        assert float(rows["src"]["out/s"]) > 0 and float(rows["relay"]["in/s"]) > 0
        assert float(rows["relay"]["out/s"]) > 0 and float(rows["sink"]["in/s"]) > 0
        assert rows[bogus]["state"] == "not answering", r.stdout
        assert rows["blind"]["state"] == "no endpoint"
        assert "blind: no control endpoint in the file: add `control = ...` to watch it" in r.stdout

        r = top_cmd(p, "--once", "--json", "--timeout", "3")
        assert r.returncode == 0, r.stdout + r.stderr
        (line,) = r.stdout.splitlines()
        nodes = {n["node"]: n for n in json.loads(line)["nodes"]}
        for n in ("src", "relay", "sink"):
            assert nodes[n]["state"] == "answering" and nodes[n]["busy"] is not None
        assert nodes["src"]["out_per_s"] > 0 and nodes["sink"]["in_per_s"] > 0 and nodes["relay"]["drops"] == 0

        # streaming JSON lines until Ctrl-C, which ends it cleanly
        w = subprocess.Popen([PY, "-m", "spikestream", "top", str(p), "--json"], stdout=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            first = w.stdout.readline()
            assert json.loads(first)["nodes"]
            w.send_signal(signal.SIGINT)
            assert w.wait(timeout=30) == 0
        finally:
            w.kill()
            w.wait()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_top_reads_auto_endpoints_from_the_runs_workdir(tmp_path):
    p = chain(tmp_path, auto=True)
    work = tmp_path / "work"
    proc = run(p, work)
    try:
        resolved = work / "pipeline.resolved.json"
        wait_for(resolved.exists, timeout=60, what="the resolved pipeline")
        sink_ctl = json.loads(resolved.read_text())["nodes"]["sink"]["control"]
        wait_for(lambda: flowing(sink_ctl), timeout=90, what="data reaching the sink")
        r = top_cmd(p, "--workdir", work, "--once", "--json", "--timeout", "3")
        assert r.returncode == 0, r.stdout + r.stderr
        nodes = {n["node"]: n for n in json.loads(r.stdout.splitlines()[0])["nodes"]}
        assert nodes["sink"]["endpoint"] == sink_ctl
        for n in ("src", "relay", "sink"):
            assert nodes[n]["state"] == "answering", nodes[n]
        assert nodes["relay"]["in_per_s"] > 0 and nodes["relay"]["out_per_s"] > 0
        assert nodes["blind"]["state"] == "no endpoint"
        # without the workdir (and no run of this file in the temp folder) it says what is missing
        r = top_cmd(p, "--once", "--timeout", "1")
        assert r.returncode == 1  # nothing could be watched
        assert "control is 'tcp://127.0.0.1:auto': give --workdir" in r.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=60)
