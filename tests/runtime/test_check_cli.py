"""`spikestream check`, the CLI's one error handler, `kinds --params` (issue 13 item 6, issue 12 item 2)."""

import subprocess
import sys
from pathlib import Path

import pytest
from runtime_helpers import node_table, write_pipeline

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
DEPLOY = sorted((ROOT / "deploy").glob("*.toml"))


def ss(*args, **kw):
    return subprocess.run([PY, "-m", "spikestream", *map(str, args)], capture_output=True, text=True, timeout=120, **kw)


def chain(tmp_path, src_params="rate_hz = 200", relay_extra=""):
    return write_pipeline(
        tmp_path, node_table("src", "ramp_source", outputs={"out": "tcp://127.0.0.1:auto"}, params=src_params),
        node_table("relay", "relay", inputs={"in": "src.out"}, outputs={"out": "tcp://127.0.0.1:auto"}, extra=relay_extra))


@pytest.mark.parametrize("path", DEPLOY, ids=[p.name for p in DEPLOY])
def test_every_shipped_pipeline_checks_clean(path):
    assert DEPLOY
    r = ss("check", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{path}: OK") and "Traceback" not in r.stderr


@pytest.mark.parametrize("src_params,relay_extra,text", [
    ("rate_hz = -1", "", "node 'src' params: rate_hz must be > 0, got -1.0"),
    ("chunck = 2", "", "node 'src' params: unknown parameter 'chunck'; did you mean 'chunk'?"),
    ("rate_hz = 200", "cpus = 3", "node 'relay': cpus must be a non-empty list of CPU numbers"),
    ("rate_hz = 200", "rt_priorty = 5", "node 'relay': unknown key 'rt_priorty'; did you mean 'rt_priority'?"),
    ("rate_hz = 200", 'params = { die_after = "soon" }', "node 'relay' params: die_after must be an integer"),
])
def test_check_names_file_table_and_key_in_one_line_and_exits_78(tmp_path, src_params, relay_extra, text):
    p = chain(tmp_path, src_params, relay_extra)
    r = ss("check", p)
    assert r.returncode == 78
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(p) in lines[0] and text in lines[0], r.stderr
    assert r.stdout == ""


def test_a_bad_kind_param_stops_run_before_any_node_starts(tmp_path):
    """Today's defect: a bad parameter surfaced only inside a started node (the supervisor had started the
    others). Now `run` refuses the file at load: exit 78, one line, no workdir of started nodes."""
    p = chain(tmp_path, "rate_hz = -1")
    work = tmp_path / "work"
    r = ss("run", p, "--workdir", work, "--duration", "30")
    assert r.returncode == 78
    assert "rate_hz must be > 0" in r.stderr and "Traceback" not in r.stderr
    assert "started" not in r.stderr.lower() and not (work / "pipeline.resolved.json").exists()


def test_configuration_errors_of_other_commands_are_one_line_exit_78(tmp_path):
    p = chain(tmp_path, "rate_hz = -1")
    r = ss("demo", "--pipeline", p, "--duration", "1")
    assert r.returncode == 78 and "Traceback" not in r.stderr, r.stderr
    assert "rate_hz must be > 0" in r.stderr
    r = ss("check", tmp_path / "missing.toml")
    assert r.returncode == 78 and "cannot read" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["kinds"], ["kinds", "--params"]])
def test_kinds_into_a_closed_pipe_ends_quietly(args):
    """`spikestream kinds | head`: the reader is gone before the first line is written (closed at once here,
    while the interpreter still starts): no BrokenPipe traceback, no "Exception ignored" at exit."""
    p = subprocess.Popen([PY, "-m", "spikestream", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_kinds_params_lists_every_kind_with_its_declared_params():
    from spikestream.cli import node_kinds

    r = ss("kinds", "--params")
    assert r.returncode == 0
    for kind, cls in node_kinds(shipped_only=True).items():  # (not kinds other tests registered in this process)
        assert f"\n{kind} (" in r.stdout
        for p in cls.PARAMS.params:
            assert f"  {p.name}: " in r.stdout
    assert "rate_hz: float = 1000.0 (Hz, > 0)" in r.stdout  # emg_synth: type, default, unit, range
    assert "cpus: list of int = none" in r.stdout  # the runtime keys too
