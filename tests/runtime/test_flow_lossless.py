"""Flow control: with ``flow = "lossless"`` a sender whose subscriber's queue is full waits (XPUB_NODROP)
instead of dropping, so a source replaying as fast as it can is slowed by its slowest consumer and nothing
is lost; a finite replay ends the run by itself once every queued message has been handled; a stop drains."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import zmq
from runtime_helpers import command, ep, node_table, wait_for, write_pipeline

from spikestream import transport
from spikestream.runtime import pipeline
from spikestream.runtime.supervisor import Supervisor

PY = sys.executable


def chain(tmp_path, src, flow=None, hwm=20, extra=""):
    """src -> relay -> rec, small queues (hwm) so that a fast source overruns them at once."""
    e = dict(src=ep(), relay=ep(), relay_ctl=ep(), rec_ctl=ep(), src_ctl=ep())
    head = f'[pipeline]\nname = "flow"\n' + (f'flow = "{flow}"\n' if flow else "")
    port = "samples" if "file_source" in src else "out"
    p = write_pipeline(tmp_path, head, f'[nodes.src]\n{src}\ncontrol = "{e["src_ctl"]}"\nhwm = {hwm}\n{extra}\n',
                       node_table("relay", "relay", inputs={"in": f"src.{port}"}, outputs={"out": e["relay"]},
                                  control=e["relay_ctl"], extra=f"hwm = {hwm}"),
                       node_table("rec", "recorder", inputs={"in": "relay.out"}, control=e["rec_ctl"], extra=f"hwm = {hwm}"))
    return p, e


def ramp(e_out, n, rate=200_000, channels=64):
    return (f'kind = "ramp_source"\noutputs = {{ out = "{e_out}" }}\n'
            f'params = {{ rate_hz = {rate}, channels = {channels}, limit = {n} }}')


def run(path, report, timeout=120):
    r = subprocess.run([PY, "-m", "spikestream", "run", str(path), "--report", str(report)], capture_output=True,
                       text=True, timeout=timeout)
    return r, json.loads(report.read_text())


def test_fast_source_with_lossless_flow_loses_nothing_and_ends_by_itself(tmp_path):
    n = 20_000
    p, _ = chain(tmp_path, ramp(ep(), n), flow="lossless")
    r, rep = run(p, tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    assert rep["ended"] == "finished"
    src, relay, rec = (rep["nodes"][k]["stats"] for k in ("src", "relay", "rec"))
    assert src["msgs_out"]["out"] == relay["msgs_in"]["in"] == relay["msgs_out"]["out"] == rec["msgs_in"]["in"] == n
    assert rep["totals"]["send_failed"] == rep["totals"]["dropped"] == rep["totals"]["lost_in_transit"] == 0
    # the source really was held back by its consumers, not merely slow
    assert src["backpressure_waits"] > 0
    # each node was told its input ended, handled everything queued, and finished
    assert {n: (r["state"], r["exit_codes"]) for n, r in rep["nodes"].items()} == dict.fromkeys(rep["nodes"], ("finished", [0]))


def test_realtime_flow_drops_and_the_report_counts_them(tmp_path):
    n = 20_000
    p, e = chain(tmp_path, ramp(ep(), n), flow="realtime")
    r, rep = run(p, tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    rec = rep["nodes"]["rec"]["stats"]
    relay = rep["nodes"]["relay"]["stats"]
    lost = n - rec["msgs_in"]["in"]
    assert lost > 0  # the queues of 20 overflow at once
    # ZeroMQ's PUB drops silently: the receivers count the sequence gaps, and the report each link's balance
    # (which also holds the drops after the last delivered message, invisible as a gap)
    assert rec["dropped"] + relay["dropped"] > 0
    assert rep["totals"]["dropped"] == sum(rep["nodes"][k]["stats"]["dropped"] for k in ("src", "relay", "rec"))
    links = {lk["to"]: lk for lk in rep["links"]}
    assert links["relay.in"] == {"from": ["src.out"], "to": "relay.in", "sent": n, "received": relay["msgs_in"]["in"],
                                 "lost": n - relay["msgs_in"]["in"]}
    assert links["rec.in"]["lost"] == relay["msgs_out"]["out"] - rec["msgs_in"]["in"]
    assert rep["totals"]["lost_in_transit"] == lost
    assert links["relay.in"]["lost"] >= relay["dropped"] and links["rec.in"]["lost"] >= rec["dropped"]


def test_a_finite_file_replay_at_full_speed_ends_the_run_with_every_message_handled(tmp_path):
    rows = 30_000
    f = tmp_path / "rec.npy"
    np.save(f, np.random.default_rng(0).standard_normal((rows, 8)).astype(np.float32))
    src = (f'kind = "file_source"\noutputs = {{ samples = "{ep()}" }}\n'
           f'params = {{ path = "{f}", rate_hz = 1000, pace = "fast", chunk = 10, progress = false }}')
    p, _ = chain(tmp_path, src, flow="lossless", hwm=1000)  # the default hwm
    r, rep = run(p, tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    assert rep["ended"] == "finished"
    src_s, rec = rep["nodes"]["src"]["stats"], rep["nodes"]["rec"]["stats"]
    assert src_s["node_counters"]["samples_out"] == rows
    assert src_s["msgs_out"]["samples"] == rec["msgs_in"]["in"] == rows // 10
    assert rep["totals"]["send_failed"] == 0 and rep["totals"]["dropped"] == 0


def test_a_paced_finite_replay_in_realtime_flow_also_ends_the_run(tmp_path):
    n = 400
    p, _ = chain(tmp_path, ramp(ep(), n, rate=400, channels=1), hwm=1000)
    r, rep = run(p, tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    assert rep["ended"] == "finished"
    assert rep["nodes"]["rec"]["stats"]["msgs_in"]["in"] == n


def test_a_stop_drains_what_is_queued(tmp_path):
    f = tmp_path / "long.npy"
    np.save(f, np.zeros((2_000_000, 8), np.float32))  # far more than the test lets it send
    src = (f'kind = "file_source"\noutputs = {{ samples = "{ep()}" }}\n'
           f'params = {{ path = "{f}", rate_hz = 1000, pace = "fast", chunk = 10, progress = false }}')
    p, e = chain(tmp_path, src, flow="lossless")
    report = tmp_path / "r.json"
    proc = subprocess.Popen([PY, "-m", "spikestream", "run", str(p), "--report", str(report)],
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (c := command(e["rec_ctl"], "count")) and c.result > 2000, what="data flowing")
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    rep = json.loads(report.read_text())
    assert rep["ended"] == "signal"
    src, relay, rec = (rep["nodes"][k]["stats"] for k in ("src", "relay", "rec"))
    assert src["backpressure_waits"] > 0  # the queues were full when the stop came
    assert src["msgs_out"]["samples"] == relay["msgs_in"]["in"] == relay["msgs_out"]["out"] == rec["msgs_in"]["in"]
    assert rep["totals"]["dropped"] == 0 and rep["totals"]["send_failed"] == 0


def test_a_blocked_lossless_node_still_answers_commands_and_stops(tmp_path):
    out, ctl = ep(), ep()
    p = tmp_path / "p.toml"
    p.write_text(f'[nodes.src]\nkind = "ramp_source"\noutputs = {{ out = "{out}" }}\ncontrol = "{ctl}"\nhwm = 2\n'
                 f'flow = "lossless"\ndrain_s = 0.5\nparams = {{ rate_hz = 100000, channels = 256, chunk = 50 }}\n')
    ctx = zmq.Context.instance()
    stuck = transport.sub(ctx, [out], transport.SocketOptions(hwm=2))  # subscribes, never reads
    proc = subprocess.Popen([PY, "-m", "spikestream", "node", str(p), "src"])
    try:
        def blocked():
            r = command(ctl, "stats")
            return r is not None and r.result["runtime"]["backpressure_waits"] > 0 and r.result["runtime"]

        wait_for(blocked, what="source blocked by a subscriber that reads nothing")

        def settled():  # the socket and TCP buffers are full: nothing more leaves
            a = command(ctl, "stats").result["runtime"]
            time.sleep(0.2)
            b = command(ctl, "stats").result["runtime"]
            return b["msgs_out"]["out"] == a["msgs_out"]["out"] and b

        first = wait_for(settled, what="the buffers between the source and the stuck reader to fill")
        time.sleep(0.5)  # at 100 kHz in 50-sample messages it would send ~1000 in this time
        later = command(ctl, "stats").result["runtime"]  # still answering while blocked
        assert later["msgs_out"]["out"] - first["msgs_out"]["out"] <= 10
        assert later["send_failed"] == 0
        assert command(ctl, "stop").result == "stopping"
        assert proc.wait(timeout=15) == 143
    finally:
        proc.kill()
        proc.wait()
        stuck.close(0)


def test_flow_is_set_per_node_or_for_the_whole_pipeline(tmp_path):
    p, _ = chain(tmp_path, ramp(ep(), 10), flow="lossless")
    p.write_text(p.read_text().replace('[nodes.rec]\n', '[nodes.rec]\nflow = "realtime"\n'))
    pl = pipeline.load(p)
    assert {n: s.flow for n, s in pl.nodes.items()} == {"src": "lossless", "relay": "lossless", "rec": "realtime"}
