"""deploy/myo_replay.toml's source, on a synthetic folder laid out as the Myo set (PERSON/training0/classe_K.dat)."""

from pathlib import Path

import numpy as np
import pytest

from spikestream.runtime import pipeline
from spikestream.testing import NodeHarness

FILE = Path(__file__).resolve().parents[2] / "deploy" / "myo_replay.toml"


def source_node(monkeypatch, folder):
    if folder is None:
        monkeypatch.delenv("MYO_SUBJECT", raising=False)
    else:
        monkeypatch.setenv("MYO_SUBJECT", str(folder))
    spec = pipeline.load(FILE).nodes["emg"]
    h = NodeHarness(spec.kind, spec.params, name="emg")
    return h.node, h.out


def test_myo_pipeline_calibrates_on_cycles_1_2_and_evaluates_on_3_4(tmp_path, monkeypatch):
    d = tmp_path / "Female0" / "training0"
    d.mkdir(parents=True)
    for k in range(28):
        np.full((6, 8), k, "<i2").tofile(d / f"classe_{k}.dat")
    n, out = source_node(monkeypatch, d)
    assert [p.name for p in n.src.files] == [f"classe_{k}.dat" for k in range(28)]
    while not n.finished:
        n.poll(0)
    y = np.concatenate([b.data for p, b, *_ in out if p == "target"])
    k = np.repeat(np.arange(28), 6)
    assert np.array_equal(y[:, 0], k % 7) and np.array_equal(y[:, 1], (k < 14).astype(np.float32))
    spikes = [b for p, b, *_ in out if p == "spikes"]
    assert spikes and spikes[0].n_neurons == 24  # 8 channels x (UP, DOWN, AMP)


def test_myo_pipeline_without_its_folder_says_which_variable(monkeypatch):
    with pytest.raises(ValueError, match="MYO_SUBJECT"):
        source_node(monkeypatch, None)
