"""`stop` is not "finished": a node stopped by the `stop` command or a SIGTERM from anyone but the
supervisor exits EX_STOPPED (143) and is restarted; only a source whose data ended exits 0."""

import os
import signal
import subprocess
import sys
import time

from runtime_helpers import command, ep, node_pids, node_table, wait_for, write_pipeline

from spikestream.runtime import pipeline
from spikestream.runtime.loop import EX_STOPPED
from spikestream.runtime.supervisor import Supervisor

PY = sys.executable


def relay_chain(tmp_path, src_params="rate_hz = 200"):
    e = dict(src=ep(), relay=ep(), src_ctl=ep(), relay_ctl=ep(), rec_ctl=ep())
    p = write_pipeline(
        tmp_path, node_table("src", "ramp_source", outputs={"out": e["src"]}, control=e["src_ctl"], params=src_params),
        node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": e["relay"]}, control=e["relay_ctl"]),
        node_table("rec", "recorder", inputs={"in": "relay.out"}, control=e["rec_ctl"]))
    return p, e


def count(endpoint):
    r = command(endpoint, "count")
    return r.result if r is not None and r.ok else None


def test_the_stop_command_exits_stopped_not_finished(tmp_path):
    p, e = relay_chain(tmp_path)
    proc = subprocess.Popen([PY, "-m", "spikestream", "node", str(p), "relay"])
    try:
        wait_for(lambda: command(e["relay_ctl"], "ping"), what="relay up")
        assert command(e["relay_ctl"], "stop").result == "stopping"
        assert proc.wait(timeout=10) == EX_STOPPED == 143
    finally:
        proc.kill()
        proc.wait()


def test_a_source_whose_data_ended_exits_0(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(f'[nodes.src]\nkind = "ramp_source"\noutputs = {{ out = "{ep()}" }}\n'
                 'params = { rate_hz = 1000, limit = 50 }\n')
    r = subprocess.run([PY, "-m", "spikestream", "node", str(p), "src"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def _restarted(sup, name, old_pid, n):
    sup.check()
    pid = sup.pids().get(name)
    return pid is not None and pid != old_pid and sup.children[name].restarts == n


def test_nodes_stopped_by_anyone_but_the_supervisor_are_restarted(tmp_path):
    p, e = relay_chain(tmp_path)
    sup = Supervisor(pipeline.load(p), workdir=str(tmp_path / "w"))
    sup.start()
    try:
        wait_for(lambda: (count(e["rec_ctl"]) or 0) > 5, what="data flowing")
        first = sup.pids()
        assert command(e["relay_ctl"], "stop").result == "stopping"  # the control channel's stop
        wait_for(lambda: _restarted(sup, "relay", first["relay"], 1), what="relay restarted after `stop`")
        assert sup.children["relay"].exit_codes == [EX_STOPPED]
        os.kill(first["rec"], signal.SIGTERM)  # the last node (like the output node) stopped from outside
        wait_for(lambda: _restarted(sup, "rec", first["rec"], 1), what="rec restarted after SIGTERM")
        assert sup.children["rec"].exit_codes == [EX_STOPPED]
        wait_for(lambda: (count(e["rec_ctl"]) or 0) > 5, what="data flowing again")
        assert sup.children["src"].restarts == 0 and sup.ended is None
        pids = list(sup.pids().values())
    finally:
        sup.shutdown()
    # the supervisor's own stop is "stopped", not restarted
    assert all(c.state == "stopped" for c in sup.children.values())
    assert all(c.exit_codes[-1] == EX_STOPPED for c in sup.children.values())
    assert not [q for q in pids if os.path.exists(f"/proc/{q}") and open(f"/proc/{q}/stat").read().split()[2] != "Z"]


def test_children_run_in_their_own_session_and_die_with_a_killed_supervisor(tmp_path):
    p, e = relay_chain(tmp_path)
    proc = subprocess.Popen([PY, "-m", "spikestream", "run", str(p)])
    try:
        wait_for(lambda: (count(e["rec_ctl"]) or 0) > 0, what="up")
        kids = node_pids(proc.pid)
        assert len(kids) == 3
        # a terminal's Ctrl-C (SIGINT to the foreground process group) reaches the supervisor only
        assert all(os.getsid(k) == k != os.getsid(proc.pid) for k in kids)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        def gone():
            return not any(os.path.exists(f"/proc/{k}") and open(f"/proc/{k}/stat").read().split()[2] != "Z"
                           for k in kids)

        wait_for(gone, timeout=15, what="children gone with the supervisor (PR_SET_PDEATHSIG)")
    finally:
        proc.kill()
        proc.wait()


def test_the_output_node_stopped_from_outside_is_restarted_and_its_actuator_served_again(tmp_path):
    """The output node's port is read by an actuator outside the pipeline (terminal: no start wait); a
    SIGTERM or `stop` from outside must not leave the actuator alone for good."""
    import zmq

    from spikestream import protocol as P
    from spikestream import transport

    out, out_ctl = ep(), ep()
    p = tmp_path / "p.toml"
    p.write_text(f"""
[nodes.emg]
kind = "emg_synth"
outputs = {{ spikes = "{ep()}" }}
params = {{ channels = 4, rate_hz = 500, chunk = 5, encoder = {{ encoder = "delta", threshold = 0.25 }} }}
[nodes.output]
kind = "control_output"
inputs = {{ in = "emg.spikes" }}
outputs = {{ out = "{out}" }}
control = "{out_ctl}"
params = {{ decoder = {{ kind = "linear_rls", n_inputs = 8, n_outputs = 1 }}, safety = {{ lo = 0.0, hi = 1.0, timeout_s = 0.5 }} }}
""")
    actuator = transport.sub(zmq.Context.instance(), [out])
    sup = Supervisor(pipeline.load(p), workdir=str(tmp_path / "w"))
    sup.start()

    def commands_arrive():
        """Drains for at most 0.5 s: the output never pauses 20 ms (100 packets/s), so an unbounded drain never
        returned and wait_for's timeout never ran (a CI run hung here for pytest's 600 s)."""
        sup.check()
        n, end = 0, time.monotonic() + 0.5
        while time.monotonic() < end and actuator.poll(20):
            n += P.unpack(actuator.recv()).kind == "control"
        return n > 0

    try:
        wait_for(commands_arrive, timeout=60, what="control commands at the actuator")
        first = sup.pids()["output"]
        os.kill(first, signal.SIGTERM)
        wait_for(lambda: _restarted(sup, "output", first, 1), what="output restarted after SIGTERM")
        wait_for(commands_arrive, timeout=60, what="commands again after the restart")
        second = sup.pids()["output"]
        assert command(out_ctl, "stop", timeout=10).result == "stopping"
        wait_for(lambda: _restarted(sup, "output", second, 2), what="output restarted after `stop`")
        wait_for(commands_arrive, timeout=60, what="commands again after the second restart")
        assert sup.children["output"].exit_codes == [EX_STOPPED, EX_STOPPED]
    finally:
        sup.shutdown()
        actuator.close(0)


def test_a_run_with_an_input_from_outside_does_not_end_with_its_finite_source(tmp_path):
    outside = ep()  # e.g. a feedback stream the pipeline file does not produce
    p = write_pipeline(tmp_path, node_table("src", "ramp_source", outputs={"out": ep()}, params="rate_hz = 1000, limit = 20"),
                       node_table("rec", "recorder", inputs={"in": ["src.out", outside]}))
    sup = Supervisor(pipeline.load(p), workdir=str(tmp_path / "w"))
    sup.start()
    try:
        wait_for(lambda: (sup.check(), sup.children["src"].state == "finished")[1], what="source finished")
        for _ in range(10):
            sup.check()
        assert sup.ended is None and sup.children["rec"].state == "running"
    finally:
        sup.shutdown()


def test_the_resolved_pipeline_is_private_and_gone_after_the_run(tmp_path):
    """It may carry a sink's password: mode 0600 while the run lasts, removed when it ends (it was 0644 and
    left behind)."""
    p, e = relay_chain(tmp_path)
    sup = Supervisor(pipeline.load(p), workdir=str(tmp_path / "work"))
    seen = []

    def look(s):
        if not seen and count(e["rec_ctl"]):
            seen.append(os.stat(s.resolved).st_mode & 0o777)
        return bool(seen)

    sup.run(duration_s=30, until=lambda: look(sup))
    assert seen == [0o600]
    assert not sup.resolved.exists()
