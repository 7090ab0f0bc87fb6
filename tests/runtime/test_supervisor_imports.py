"""The supervisor of `spikestream run` / `demo` imports no kernel library: it has the prestarted fork server (which
imports the node kinds anyway, to fork the nodes from) read and check the pipeline file, and takes the resolved
pipeline from it. Before, the supervisor's own check imported every node kind's module, with Numba and scipy
(the supervisor used 0.75 CPU-s to the nodes' start, now 0.27: benchmarks/start_time.py; on a 2-core device that
competed with the fork server's imports). The check stays complete: the same pipeline comes back, a bad file gives
the same error text, the check's log lines are said by the supervisor; without a working fork server the
supervisor checks the file itself, as before."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from runtime_helpers import wait_for

from spikestream.runtime import pipeline
from spikestream.runtime.demo import DEFAULT_PIPELINE

PY = sys.executable
KERNEL_LIBS = ("numba", "llvmlite", "scipy")

# What `spikestream run` does before it starts the nodes: prestart the fork server, then load the file.
SUPERVISOR_LOAD = r"""
import json, logging, sys
from spikestream.runtime import forkserver, pipeline
forkserver.prestart()
records = []
class Keep(logging.Handler):
    def emit(self, r): records.append([r.name, r.levelname, r.getMessage()])
logging.basicConfig(level=logging.INFO, handlers=[Keep()])
out = {}
try:
    out["json"] = forkserver.load_pipeline(sys.argv[1]).to_json()
except pipeline.PipelineError as e:
    out["error"] = str(e)
out["kernel_libs"] = sorted(m for m in %r if m in sys.modules)
out["logs"] = records
print(json.dumps(out))
""" % (KERNEL_LIBS,)


def _env():
    env = dict(os.environ)
    env.pop("SPIKESTREAM_FORKSERVER", None)
    return env


def supervisor_load(path):
    r = subprocess.run([PY, "-c", SUPERVISOR_LOAD, str(path)], capture_output=True, text=True, timeout=180, env=_env())
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _ports_blind(text):
    return re.sub(r"tcp://127\.0\.0\.1:\d+", "tcp://127.0.0.1:PORT", text)


def test_the_supervisor_loads_the_demo_without_importing_numba_or_scipy_and_gets_the_same_pipeline():
    got = supervisor_load(DEFAULT_PIPELINE)
    assert got["kernel_libs"] == [], got
    here = pipeline.load(DEFAULT_PIPELINE)  # the check done in this process, as `spikestream check` does it
    assert _ports_blind(got["json"]) == _ports_blind(here.to_json())
    back = json.loads(got["json"])["nodes"]
    assert back["snn"]["params"]["layers"][0]["n"] == 64 and back["output"]["inputs"]["in"] == [back["snn"]["outputs"]["out"]]


def test_a_bad_file_gives_the_same_error_as_the_check_and_still_no_numba(tmp_path):
    p = tmp_path / "bad.toml"
    text = DEFAULT_PIPELINE.read_text()
    assert "n = 64" in text  # the demo's hidden layer, made invalid here
    p.write_text(text.replace("n = 64", "n = -64"))
    got = supervisor_load(p)
    try:
        pipeline.load(p)
        raise AssertionError("the bad file was accepted")
    except pipeline.PipelineError as e:
        expected = str(e)
    assert got.get("error") == expected and "node 'snn'" in expected, got
    assert got["kernel_libs"] == [], got


def test_the_checks_log_lines_are_said_by_the_supervisor(tmp_path):
    p = tmp_path / "fast.toml"
    text = DEFAULT_PIPELINE.read_text()
    assert 'pace = "realtime"' in text  # the demo's source, made to replay as fast as it can here
    p.write_text(text.replace('pace = "realtime"', 'pace = "fast"'))
    got = supervisor_load(p)
    assert "json" in got and got["kernel_libs"] == [], got
    warned = [r for r in got["logs"] if r[0] == "spikestream.pipeline" and r[1] == "WARNING" and 'pace = "fast"' in r[2]]
    assert len(warned) == 1, got["logs"]


FALLBACK = r"""
import json, logging, os, signal, sys
from spikestream.runtime import forkserver
forkserver.prestart()
server = forkserver._PRESTARTED
if sys.argv[2] == "killed":
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
else:  # its pipe broken under it: the request cannot be sent
    server.proc.stdin.close()
logging.basicConfig(level=logging.WARNING)
pl = forkserver.load_pipeline(sys.argv[1])
print(json.dumps({"json": pl.to_json(), "numba": "numba" in sys.modules, "server_left": forkserver._PRESTARTED is not None}))
"""


@pytest.mark.parametrize("how", ["killed", "unreachable"])
def test_without_a_working_fork_server_the_supervisor_checks_the_file_itself(how):
    r = subprocess.run([PY, "-c", FALLBACK, str(DEFAULT_PIPELINE), how], capture_output=True, text=True, timeout=180,
                       env=_env())
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["numba"] is True  # checked here, as before the fork server did it
    assert _ports_blind(got["json"]) == _ports_blind(pipeline.load(DEFAULT_PIPELINE).to_json())
    if how == "unreachable":
        assert "checking the pipeline here" in r.stderr and got["server_left"] is False, r.stderr


def _mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {line.split()[-1] for line in f if "/" in line}


def test_a_running_supervisor_has_no_kernel_library_mapped(tmp_path):
    """`spikestream run deploy/demo.toml`: once it starts the nodes, no shared object of Numba, llvmlite or scipy
    is mapped into the supervisor's process (the nodes, forked from the fork server, have them)."""
    err = tmp_path / "run.err"
    with open(err, "w") as f:
        proc = subprocess.Popen([PY, "-m", "spikestream", "run", str(DEFAULT_PIPELINE), "--no-view", "--workdir",
                                 str(tmp_path / "w")], stdout=subprocess.DEVNULL, stderr=f, env=_env())
    try:
        wait_for(lambda: "starting 3 nodes" in err.read_text() or proc.poll() is not None, timeout=120,
                 what="the supervisor starting the nodes")
        assert proc.poll() is None, err.read_text()
        libs = sorted(m for m in _mapped(proc.pid) if any(f"/{k}" in m for k in KERNEL_LIBS))
        assert libs == [], libs
        assert "fork server ready" in err.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.read_text()
