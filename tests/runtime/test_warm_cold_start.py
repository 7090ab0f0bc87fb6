"""A first start with an empty Numba cache (issue 13, item 5): every node of the demo pipeline compiles its
kernels before it reports ready ("kernels ready" in its log, after jitlog's "compiling kernel" lines), sends
nothing before that line, and compiles nothing after it (late_compiles 0 in every node's report). Before
Node.warm, the SNN and the output compiled at their first messages while the input queued, and the output
then dropped (or, without max_age_ms, sent) commands seconds old."""

import json
import os
import subprocess
import sys

import pytest

from spikestream.runtime.demo import DEFAULT_PIPELINE


@pytest.mark.slow  # every kernel of the demo compiles, in three processes at once: 20-90 s on 2 cores
def test_a_cold_start_compiles_every_kernel_before_ready_and_none_after(tmp_path):
    text = DEFAULT_PIPELINE.read_text()
    assert 'pace = "realtime",' in text
    # a finite run (3 s of source time, then the pipeline ends by itself) whose source waits for its readers
    # however long they compile, although its start_wait_s (2 s here) runs out first: they say they are still
    # starting (runtime/start.py), so nothing it sends is lost
    path = tmp_path / "demo.toml"
    path.write_text(text.replace('pace = "realtime",', 'pace = "realtime", duration_s = 3.0,')
                    .replace('kind = "emg_synth"\n', 'kind = "emg_synth"\nstart_wait_s = 2\n'))
    work = tmp_path / "work"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    r = subprocess.run([sys.executable, "-m", "spikestream", "run", str(path), "--no-view", "--workdir", str(work)],
                       env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    compiled = 0
    for name in ("emg", "snn", "output"):
        lines = [ln for ln in r.stderr.splitlines() if f" spikestream.{name}:" in ln]  # (--no-view: to stderr)
        ready = [i for i, ln in enumerate(lines) if "kernels ready in" in ln]
        assert len(ready) == 1, (name, lines[:40])
        compiling = [i for i, ln in enumerate(lines) if "compiling kernel" in ln]
        assert all(i < ready[0] for i in compiling), (name, [lines[i] for i in compiling])
        compiled += len(compiling)
        first_out = [i for i, ln in enumerate(lines) if "first message out" in ln]
        assert first_out and first_out[0] > ready[0], (name, lines[:40])
        rep = json.loads((work / f"{name}.report.json").read_text())
        assert rep["late_compiles"] == 0 and rep["sent_before_ready"] == 0 and rep["dropped"] == 0, (name, rep)
    assert compiled >= 3  # the cache was cold: each node said it compiled (the first compile of each is a WARNING)
    out = json.loads((work / "output.report.json").read_text())
    assert out["msgs_in"].get("in", 0) > 1000 and out["msgs_out"]["out"] > 1000, out
    emg = [ln for ln in r.stderr.splitlines() if " spikestream.emg:" in ln]
    assert any("waiting past start_wait_s = 2 s" in ln for ln in emg) or \
        not any("waiting (at most start_wait_s" in ln for ln in emg), emg  # held, unless nobody compiled for 2 s
