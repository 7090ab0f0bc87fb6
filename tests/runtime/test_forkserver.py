"""Nodes forked from the fork server (runtime/forkserver.py): each node of a supervised pipeline is a child of the
one process that did the imports, in its own session, with the pipeline's environment (the control token); a
node killed is forked again; a fork server that dies takes its nodes with it and the supervisor starts them
again as programs of their own; SPIKESTREAM_FORKSERVER=0 starts them as programs from the start."""

import contextlib
import os
import signal

from runtime_helpers import command, ep, node_table, wait_for, write_pipeline

from spikestream.runtime import pipeline
from spikestream.runtime.supervisor import Supervisor


def chain(tmp_path):
    e = dict(src_ctl=ep(), relay_ctl=ep(), rec_ctl=ep())
    p = write_pipeline(
        tmp_path, node_table("src", "ramp_source", outputs={"out": ep()}, control=e["src_ctl"], params="rate_hz = 200"),
        node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": ep()}, control=e["relay_ctl"]),
        node_table("rec", "recorder", inputs={"in": "relay.out"}, control=e["rec_ctl"]))
    return p, e


def received(e):
    r = command(e["rec_ctl"], "count")
    return r.result if r is not None and r.ok else 0


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(x.split(b"=", 1) for x in f.read().split(b"\0") if b"=" in x)


@contextlib.contextmanager
def running(tmp_path):
    """The chain under a supervisor, data flowing; stopped at the end."""
    p, e = chain(tmp_path)
    sup = Supervisor(pipeline.load(p), workdir=str(tmp_path / "w"))
    try:
        sup.start()
        wait_for(lambda: received(e) > 5, what="data flowing")
        yield sup, e
    finally:
        sup.shutdown()


def _restarted(sup, name, old_pid):
    sup.check()
    pid = sup.pids().get(name)
    return pid is not None and pid != old_pid


def test_nodes_are_forked_from_the_fork_server_and_forked_again_when_killed(tmp_path):
    with running(tmp_path) as (sup, e):
        server = sup._forks.proc.pid
        pids = sup.pids()
        assert {n: ppid(q) for n, q in pids.items()} == dict.fromkeys(pids, server)
        assert all(os.getsid(q) == q for q in pids.values())  # each in its own session, as before
        assert {n: open(f"/proc/{q}/comm").read().strip() for n, q in pids.items()} == {n: f"ss:{n}" for n in pids}
        token = os.environ["SPIKESTREAM_CONTROL_TOKEN"].encode()  # the pipeline's environment reached them
        assert all(environ(q).get(b"SPIKESTREAM_CONTROL_TOKEN") == token for q in pids.values())
        assert command(e["relay_ctl"], "ping").ok  # the token works: commands are accepted
        os.kill(pids["relay"], signal.SIGKILL)
        wait_for(lambda: _restarted(sup, "relay", pids["relay"]), what="relay restarted")
        assert sup.children["relay"].exit_codes == [-signal.SIGKILL]
        assert ppid(sup.pids()["relay"]) == server
        n = received(e)
        wait_for(lambda: received(e) > n + 5, what="data flowing again")
    assert all(c.state == "stopped" for c in sup.children.values())
    assert sup._forks is None and not os.path.exists(f"/proc/{server}")  # ended and reaped


def test_when_the_fork_server_dies_its_nodes_are_started_as_programs(tmp_path):
    with running(tmp_path) as (sup, e):
        first = sup.pids()
        os.kill(sup._forks.proc.pid, signal.SIGKILL)  # its children get SIGTERM (parent-death signal)
        wait_for(lambda: all(_restarted(sup, n, q) for n, q in first.items()), what="every node restarted", timeout=60)
        assert sup._forks is None
        assert all(ppid(q) == os.getpid() for q in sup.pids().values())
        wait_for(lambda: command(e["rec_ctl"], "ping") is not None, what="rec answering again")


def test_switched_off_each_node_is_its_own_program(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKESTREAM_FORKSERVER", "0")
    with running(tmp_path) as (sup, e):
        assert sup._forks is None
        assert all(ppid(q) == os.getpid() for q in sup.pids().values())
