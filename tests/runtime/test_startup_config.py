"""Start-up and configuration: no silent waits, terminal outputs don't wait, a port in use or a bad parameter
stops the whole pipeline with exit 78 and one clear line, runtime keys checked when the file is loaded."""

import json
import socket
import subprocess
import sys
import time

import pytest
from runtime_helpers import command, ep, node_table, wait_for, write_pipeline

from spikestream.runtime import pipeline

PY = sys.executable


def chain(tmp_path, extra_src="", extra_relay="", src_params="rate_hz = 200"):
    """src -> relay; relay's output is read by nobody in the file (like the output node's port an external
    actuator reads): terminal."""
    e = dict(src=ep(), relay=ep(), src_ctl=ep(), relay_ctl=ep())
    return write_pipeline(
        tmp_path, node_table("src", "ramp_source", outputs={"out": e["src"]}, control=e["src_ctl"], params=src_params,
                             extra=extra_src),
        node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": e["relay"]}, control=e["relay_ctl"],
                   extra=extra_relay)), e


def test_pipeline_knows_which_outputs_are_terminal(tmp_path):
    p, _ = chain(tmp_path)
    pl = pipeline.load(p)
    assert pl.nodes["src"].consumers == {"out": ["relay.in"]}
    assert pl.nodes["relay"].consumers == {"out": []}


def test_a_terminal_output_does_not_hold_the_start(tmp_path):
    p, e = chain(tmp_path)  # start_wait_s stays at its default, 30 s
    proc = subprocess.Popen([PY, "-m", "spikestream", "run", str(p)], stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()

        def relay_in():
            r = command(e["relay_ctl"], "stats")
            return r is not None and r.result["runtime"]["msgs_in"].get("in", 0) > 0

        wait_for(relay_in, timeout=15, what="relay passing data although nobody reads its output")
        assert time.monotonic() - t0 < 15
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_waiting_node_says_what_it_waits_for_then_warns(tmp_path):
    p, _ = chain(tmp_path, extra_src="start_wait_s = 2.5")
    r = subprocess.run([PY, "-m", "spikestream", "node", str(p), "src", "--duration", "4"], capture_output=True,
                       text=True, timeout=60)  # the relay never runs: nobody subscribes
    lines = r.stderr.splitlines()
    waiting = [ln for ln in lines if "waiting" in ln and " I " in ln]
    assert len(waiting) == 1, r.stderr
    assert "'out'" in waiting[0] and "relay.in" in waiting[0] and "2.5" in waiting[0]
    warned = [ln for ln in lines if " W " in ln and "no subscriber" in ln]
    assert len(warned) == 1 and "'out'" in warned[0], r.stderr


def test_a_port_in_use_exits_78_with_one_line_and_stops_the_run(tmp_path):
    p, e = chain(tmp_path)
    port = int(e["relay"].rsplit(":", 1)[1])
    with socket.socket() as hold:  # another program holds the relay's port
        hold.bind(("127.0.0.1", port))
        hold.listen()
        t0 = time.monotonic()
        r = subprocess.run([PY, "-m", "spikestream", "run", str(p), "--duration", "60", "--report",
                            str(tmp_path / "r.json")], capture_output=True, text=True, timeout=50)
    assert r.returncode == 78, r.stderr
    assert time.monotonic() - t0 < 40  # not left running until --duration
    assert "Traceback" not in r.stderr
    bind_lines = [ln for ln in r.stderr.splitlines() if "cannot bind" in ln]
    assert len(bind_lines) == 1 and e["relay"] in bind_lines[0] and "in use" in bind_lines[0]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["ended"] == "config" and rep["exit_code"] == 78
    assert rep["nodes"]["relay"]["state"] == "failed" and rep["nodes"]["relay"]["exit_codes"] == [78]
    assert rep["nodes"]["src"]["state"] == "stopped"  # the supervisor stopped the rest


def test_a_bad_parameter_in_one_node_stops_the_whole_pipeline(tmp_path):
    p, e = chain(tmp_path, src_params='fail_setup = "no sensor"')  # valid in the file, fails at the start
    t0 = time.monotonic()
    r = subprocess.run([PY, "-m", "spikestream", "run", str(p), "--duration", "60", "--report", str(tmp_path / "r.json")],
                       capture_output=True, text=True, timeout=50)
    assert r.returncode == 78
    assert time.monotonic() - t0 < 40
    rep = json.loads((tmp_path / "r.json").read_text())["nodes"]
    assert rep["src"]["state"] == "failed" and rep["src"]["restarts"] == 0
    assert rep["relay"]["state"] == "stopped" and rep["relay"]["restarts"] == 0


@pytest.mark.parametrize("line,match", [
    ("cpus = 3", "cpus must be a non-empty list of CPU numbers"),
    ("cpus = [-1]", "cpus must be"),
    ("hwm = 0", "hwm must be >= 1"),
    ("hwm = 2.5", "hwm must be an integer"),
    ("hwm = true", "hwm must be an integer"),
    ('tick_ms = "10"', "tick_ms must be a number"),
    ("tick_ms = 0", "tick_ms must be > 0"),
    ("rt_priority = 100", "rt_priority must be >= 1 and <= 99"),
    ("start_wait_s = -1", "start_wait_s must be >= 0"),
    ("max_age_ms = 0", "max_age_ms must be > 0"),
    ("checkpoint_s = nan", "checkpoint_s must be > 0"),
    ("linger_ms = -5", "linger_ms must be >= 0"),
    ("stats_interval_s = 0", "stats_interval_s must be > 0"),
    ('flow = "fast"', "flow must be one of"),
    ("drain_s = -1", "drain_s must be >= 0"),
])
def test_runtime_keys_are_checked_at_load_naming_file_node_and_key(tmp_path, line, match):
    p, _ = chain(tmp_path, extra_relay=line)
    with pytest.raises(pipeline.PipelineError, match=match) as ei:
        pipeline.load(p)
    assert str(p) in str(ei.value) and "node 'relay'" in str(ei.value)


def test_a_bad_pipeline_wide_flow_is_named(tmp_path):
    p, _ = chain(tmp_path)
    p.write_text('[pipeline]\nflow = "sometimes"\n' + p.read_text())
    with pytest.raises(pipeline.PipelineError, match=r"\[pipeline\]: flow must be one of"):
        pipeline.load(p)


def test_run_with_a_bad_key_exits_78_with_one_line(tmp_path):
    p, _ = chain(tmp_path, extra_relay="cpus = 3")
    r = subprocess.run([PY, "-m", "spikestream", "run", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 78
    assert "Traceback" not in r.stderr and "cpus" in r.stderr and "node 'relay'" in r.stderr


def test_a_fast_replay_without_lossless_flow_is_warned_about(tmp_path, caplog):
    p, _ = chain(tmp_path, src_params='rate_hz = 200, pace = "fast"')  # (ramp_source has no pace: a file source)
    p.write_text(p.read_text().replace('kind = "ramp_source"\noutputs = { out', 'kind = "emg_synth"\noutputs = { samples')
                 .replace('"src.out"', '"src.samples"'))
    pipeline.load(p)
    assert any("pace = \"fast\"" in r.message and "lossless" in r.message and r.levelname == "WARNING"
               for r in caplog.records)
    caplog.clear()
    p.write_text('[pipeline]\nflow = "lossless"\n' + p.read_text())
    pipeline.load(p)
    assert not [r for r in caplog.records if "pace" in r.message]


def test_a_node_that_cannot_start_stops_the_pipeline_before_anything_reaches_the_end(tmp_path):
    """src -> relay -> rec, the relay's port taken: the source waits for its reader, which never comes; the
    supervisor stops everything at the relay's exit 78, and the last node (the actuator's side) saw nothing."""
    e = dict(src=ep(), relay=ep())
    p = write_pipeline(tmp_path, node_table("src", "ramp_source", outputs={"out": e["src"]}, params="rate_hz = 1000"),
                       node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": e["relay"]}),
                       node_table("rec", "recorder", inputs={"in": "relay.out"}))
    with socket.socket() as hold:
        hold.bind(("127.0.0.1", int(e["relay"].rsplit(":", 1)[1])))
        hold.listen()
        r = subprocess.run([PY, "-m", "spikestream", "run", str(p), "--duration", "60", "--report",
                            str(tmp_path / "r.json")], capture_output=True, text=True, timeout=50)
    assert r.returncode == 78
    rep = json.loads((tmp_path / "r.json").read_text())["nodes"]
    # a node stopped while still starting up writes no report: then it sent and received nothing either
    assert rep["src"]["stats"].get("msgs_out", {}).get("out", 0) == 0
    assert rep["rec"]["stats"].get("msgs_in", {}).get("in", 0) == 0
    assert rep["relay"]["exit_codes"] == [78] and rep["relay"]["restarts"] == 0


def test_auto_ports_are_chosen_below_the_ephemeral_range():
    from spikestream import transport
    lo, _ = transport._ephemeral_range()
    ports = [transport.free_tcp_port() for _ in range(2000)]
    assert all(1024 < p < lo for p in ports)
    assert len(set(ports)) == len(ports)  # never the same port twice: two endpoints of one pipeline would clash


def test_a_port_held_for_a_moment_is_bound_once_it_is_free():
    """An outgoing connection or a predecessor still closing may hold a port briefly: the node waits for it
    (up to BIND_RETRY_S) instead of exiting 78 and taking the pipeline down."""
    import threading

    import zmq

    from spikestream import transport
    from spikestream.runtime import loop
    port = transport.free_tcp_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    threading.Timer(0.5, holder.close).start()
    ctx = zmq.Context()
    try:
        t0 = time.monotonic()
        ep_ = f"tcp://127.0.0.1:{port}"
        s = loop._bind(lambda: transport.pub(ctx, ep_), "output 'out'", ep_)
        assert 0.4 < time.monotonic() - t0 < loop.BIND_RETRY_S
        s.close(linger=0)
    finally:
        ctx.term()  # hangs if a failed attempt left a socket open
