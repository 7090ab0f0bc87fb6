"""deploy/myo_replay.toml as shipped, over ZeroMQ in real processes, on Myo-like files made here (28 raw
int16 recordings of 8 channels at 200 Hz, 7 gestures x 4 cycles): the labelled replay calibrates the
learning pipeline on cycles 1-2, scores cycles 3-4, loses nothing and ends by itself."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _make_person(folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(2.0, 40.0, (7, 8))
    patterns[0] = 1.5  # rest
    folder.mkdir(parents=True)
    for k in range(28):
        n = 1000
        x = rng.standard_normal((n, 8)) * patterns[k % 7] * rng.uniform(0.85, 1.15)
        np.clip(np.round(x), -128, 127).astype("<i2").tofile(folder / f"classe_{k}.dat")


@pytest.mark.slow
def test_myo_replay_learns_scores_and_ends(tmp_path):
    person = tmp_path / "P0" / "training0"
    _make_person(person)
    rep = tmp_path / "report.json"
    env = {**os.environ, "MYO_SUBJECT": str(person)}
    r = subprocess.run([sys.executable, "-m", "spikestream", "run", str(ROOT / "deploy/myo_replay.toml"),
                        "--report", str(rep)], capture_output=True, text=True, timeout=600, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    nodes = json.loads(rep.read_text())["nodes"]
    assert all(n["state"] == "finished" for n in nodes.values()), {k: n["state"] for k, n in nodes.items()}
    src, snn, out = (nodes[k]["stats"] for k in ("emg", "snn", "output"))
    sent = src["msgs_out"]["spikes"]
    assert snn["msgs_in"]["in"] == sent and out["msgs_in"]["in"] == sent  # lossless: every packet arrives
    assert sum(nodes[k]["stats"]["dropped"] for k in nodes) == 0
    c = out["node_counters"]
    assert c["eval_decisions"] > 2000
    assert c["eval_accuracy"] >= 0.9, c
