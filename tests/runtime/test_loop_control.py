"""The control channel (issue 11, item 5): save_state/load_state stay inside the node's state folder, and
without CURVE every command but ping/stats needs the pipeline's control token. Real node processes."""

import json
import os
import stat
import subprocess
import sys

import pytest
import zmq
from runtime_helpers import command, ep, node_table, wait_for, write_pipeline

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime import auth, checkpoint, pipeline
from spikestream.runtime.supervisor import Supervisor

PY = sys.executable


def ramp(tmp_path, state=True):
    e = dict(out=ep(), ctl=ep())
    d = tmp_path / "state"
    d.mkdir(exist_ok=True)
    p = write_pipeline(tmp_path, node_table("src", "ramp_source", outputs={"out": e["out"]}, control=e["ctl"],
                                            params="rate_hz = 100", extra=f'state = "{d / "src.npz"}"' if state else ""))
    return p, e, d


@pytest.fixture
def node(tmp_path):
    p, e, d = ramp(tmp_path)
    proc = subprocess.Popen([PY, "-m", "spikestream", "node", str(p), "src"])
    wait_for(lambda: command(e["ctl"], "ping"), what="node up")
    yield e, d
    proc.terminate()
    proc.wait(timeout=10)


def test_save_and_load_state_paths_stay_in_the_state_folder(node, tmp_path):
    e, d = node
    outside = tmp_path / "outside"
    outside.mkdir()
    (d / "link").symlink_to(outside)
    (d / "trap.npz").symlink_to(outside / "victim")
    for cmd in ("save_state", "load_state"):
        for path in ["../evil.npz", str(outside / "evil.npz"), "link/evil.npz", "trap.npz", str(d), "sub/../../x.npz"]:
            r = command(e["ctl"], cmd, {"path": path})
            assert r is not None and not r.ok and "outside the node's state folder" in r.error, (cmd, path, r)
    assert os.listdir(outside) == [] and not (tmp_path / "evil.npz").exists()
    r = command(e["ctl"], "save_state", {"path": "snapshot.npz"})  # a plain name: in the state folder
    assert r.ok and r.result == str(d / "snapshot.npz")
    assert "k" in checkpoint.read(str(d / "snapshot.npz"))
    assert command(e["ctl"], "load_state", {"path": "snapshot.npz"}).ok


def test_without_a_state_file_save_and_load_state_are_refused(tmp_path):
    p, e, _ = ramp(tmp_path, state=False)
    proc = subprocess.Popen([PY, "-m", "spikestream", "node", str(p), "src"])
    try:
        wait_for(lambda: command(e["ctl"], "ping"), what="node up")
        for cmd in ("save_state", "load_state"):
            r = command(e["ctl"], cmd, {"path": str(tmp_path / "x.npz")})
            assert not r.ok and "no state file configured" in r.error
        assert not (tmp_path / "x.npz").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _raw(endpoint, cmd, args=None, token=""):
    frame = transport.request(zmq.Context.instance(), endpoint, P.pack(P.Message(P.Command(cmd, args or {}, token))), 2.0)
    return P.unpack(frame).body


def test_commands_without_the_token_are_refused_and_counted(node):
    e, d = node
    token = os.environ[auth.ENV_TOKEN]  # the node's, given by conftest through its environment
    assert _raw(e["ctl"], "ping").result == "pong"  # health checks stay open
    assert _raw(e["ctl"], "stats").ok
    for t in ("", "wrong"):
        for cmd, args in [("stop", {}), ("save_state", {"path": "x.npz"}), ("load_state", {})]:
            r = _raw(e["ctl"], cmd, args, t)
            assert not r.ok and "control token" in r.error
    assert not (d / "x.npz").exists()
    assert _raw(e["ctl"], "stats").result["runtime"]["commands_refused"] == 6
    assert _raw(e["ctl"], "save_state", {"path": "x.npz"}, token).ok
    assert _raw(e["ctl"], "stop", {}, token).result == "stopping"


def test_spikestream_run_makes_a_private_token_and_cmd_uses_it(tmp_path, monkeypatch):
    monkeypatch.delenv(auth.ENV_TOKEN)
    p, e, d = ramp(tmp_path)
    sup = Supervisor(pipeline.load(p), workdir=str(tmp_path / "w"))
    sup.start()
    try:
        tok = tmp_path / "w" / "control.token"
        assert stat.S_IMODE(tok.stat().st_mode) == 0o600 and len(tok.read_text().strip()) >= 32
        wait_for(lambda: command(e["ctl"], "ping"), what="node up")

        def cmd(*extra):
            r = subprocess.run([PY, "-m", "spikestream", "cmd", e["ctl"], "save_state", '{"path": "y.npz"}', *extra],
                               capture_output=True, text=True, timeout=60)
            return r.returncode, json.loads(r.stdout)

        code, out = cmd()
        assert code == 1 and "control token" in out["error"]
        code, out = cmd("--token-file", str(tok))
        assert code == 0 and out["ok"] and (d / "y.npz").exists()
    finally:
        sup.shutdown()


def test_token_files_readable_by_others_are_refused_and_curve_pipelines_get_none(tmp_path):
    f = tmp_path / "t"
    f.write_text("secret\n")
    f.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        auth.read_token_file(f)
    f.chmod(0o600)
    assert auth.read_token_file(f) == "secret"
    env = auth.pipeline_env(tmp_path, curve=True, environ={})
    assert auth.ENV_TOKEN_FILE not in env and not (tmp_path / "control.token").exists()
    env = auth.pipeline_env(tmp_path, curve=False, environ={})
    assert auth.read_token_file(env[auth.ENV_TOKEN_FILE])
    assert auth.allowed("stop", "", None)  # no token configured: open (the node warns at start)


def test_help_lists_the_runtime_and_the_node_kinds_commands_without_a_token(node):
    e, d = node
    r = _raw(e["ctl"], "help")  # no token: help is read-only, like ping and stats
    assert r.ok and r.result["kind"] == "ramp_source"
    assert set(r.result["runtime"]) == {"ping", "stats", "help", "save_state", "load_state", "stop"}
    assert r.result["node"] == {}  # a ramp source has no commands of its own


def test_every_declared_node_command_is_one_the_node_answers():
    """A node kind's COMMANDS (what `help` shows) name commands its on_command knows: each, sent with no
    arguments, is either done or refused for its arguments, never 'has no command'."""
    from spikestream.testing import NodeHarness

    built = {
        "snn": {"dt_us": 1000, "n_inputs": 4, "layers": [{"name": "h", "n": 3, "model": "lif"}],
                "connections": [{"pre": "input", "post": "h", "weight": 1.0}]},
        "control_output": {"decoder": {"kind": "rate", "n_inputs": 4}, "safety": {"timeout_s": 0.5}},
        "encoder": {"kind": "delta", "threshold": 0.1},
    }
    for kind, params in built.items():
        h = NodeHarness(kind, params)
        declared = type(h.node).COMMANDS
        assert declared, kind
        for cmd in declared:
            try:
                h.command(cmd)
            except ValueError as e:
                assert "no command" not in str(e), (kind, cmd, e)
        with pytest.raises(ValueError, match="no command"):
            h.command("no-such-command")
