"""`spikestream warmup` (what `make` and the systemd unit's ExecStartPre run after an install) compiles every
kernel the demo's nodes use: with an empty Numba cache, warmup, then the demo, and no node logs a compile
(the jitlog warning a cache miss gives). Today's gap it closes: the source's input check and the output's
safety stage compiled at the demo's first messages, seconds late on a small board."""

import os
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_after_warmup_the_demo_compiles_nothing(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    run = [sys.executable, "-m", "spikestream"]
    w = subprocess.run(run + ["warmup"], env=env, capture_output=True, text=True, timeout=900)
    assert w.returncode == 0, w.stderr[-3000:]
    assert "calibration ended" not in w.stderr  # warmup's own node run is quiet
    d = subprocess.run(run + ["demo", "--duration", "6"], env=env, capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert d.returncode == 0, d.stderr[-3000:]
    logs = re.search(r"node logs in\s+(\S+)", d.stderr.replace("\n", " "))
    assert logs, d.stderr[-2000:]
    texts = {f: open(os.path.join(logs.group(1), f)).read() for f in os.listdir(logs.group(1))}
    assert set(texts) >= {"emg.log", "snn.log", "output.log"}, set(texts)
    compiled = [ln for t in texts.values() for ln in t.splitlines() if "compiling kernel" in ln]
    assert compiled == [], compiled
