"""The demo's learning (deploy/demo.toml) helps its control, on the library code the nodes run, in-process.

Before (soft-bounded pair STDP, readout calibrated from the first packet with RLS's absolute prior), every
hidden neuron learned the same weight vector within 10 s (mean pairwise cosine 1.000), and learning tracked
0.022 r under the same network frozen over six seeds. Shipped now: triplet STDP with BCM's sliding threshold
keeps the neurons apart, the readout calibrates after 15 s of unsupervised learning and is refitted as ridge
regression: learning above frozen on 12 of 12 seeds (docs/learning.md)."""

import importlib.util
import tomllib
from pathlib import Path

import numpy as np
import pytest

from spikestream.registry import ENCODERS, SOURCES
from spikestream.snn import build_snn

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "demo.toml"


def _demo_drift():
    spec = importlib.util.spec_from_file_location("demo_drift", ROOT / "benchmarks" / "demo_drift.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _learned_demo_snn(seconds: float):
    pipe = tomllib.loads(DEMO.read_text())
    src_p = pipe["nodes"]["emg"]["params"]
    src = SOURCES.create("emg_synth", n_channels=src_p["channels"], rate_hz=src_p["rate_hz"], n_dof=src_p["dof"],
                         seed=src_p["seed"])
    enc_p = dict(src_p["encoder"])
    enc = ENCODERS.create(enc_p.pop("kind"), n_channels=src_p["channels"], **enc_p)
    snn = build_snn(pipe["nodes"]["snn"]["params"], enc.n_outputs)
    assert snn.learning
    n_in = enc.n_outputs
    counts = np.zeros(snn.n_outputs - n_in, np.int64)
    steps = int(seconds * 100)
    for k in range(steps):
        c = src.read(10)
        idx, t = enc.encode(np.asarray(c.data, np.float64), c.t_us)
        oi, _ = snn.advance(idx, t, int(c.t_us[-1]) + 1000)
        if k >= steps // 2:
            counts += np.bincount(oi[oi >= n_in] - n_in, minlength=counts.size)
    W = snn.weight_matrix(snn.projections[0])
    return pipe, (W if W.shape[0] == n_in else W.T), counts, seconds / 2


@pytest.mark.slow
def test_demo_hidden_layer_keeps_its_directions_while_learning():
    pipe, W, counts, window_s = _learned_demo_snn(30.0)
    conn = pipe["nodes"]["snn"]["params"]["connections"][0]
    Wn = W / np.linalg.norm(W, axis=0, keepdims=True)
    cos = Wn.T @ Wn
    mean_cos = cos[~np.eye(cos.shape[0], dtype=bool)].mean()
    assert mean_cos < 0.6, mean_cos  # the pair rule: 1.000 (one weight vector, 64 times)
    assert np.linalg.matrix_rank(W, tol=1e-6 * np.abs(W).max()) == W.shape[0]  # every input direction kept
    target, w_max = conn["normalize"]["target"], conn["plasticity"]["w_max"]
    sums = W.sum(axis=0)  # normalisation holds (a neuron whose few weights sit at w_max may stay under it)
    assert (sums <= target * 1.001).all() and (sums >= 0.5 * target).all(), sums
    assert 0.0 <= W.min() and W.max() <= w_max
    rates = counts / window_s
    assert (rates > 0).sum() >= 0.9 * rates.size, np.sort(rates)[:8]  # the layer is not silent
    assert np.median(rates) < 200, np.median(rates)  # nor runs at the step rate


@pytest.mark.slow
def test_demo_learning_tracks_at_least_as_well_as_frozen():
    """Paired: the same signal and random network, learning on and off, three seeds, 3 min each. Deterministic
    (seeded, in-process), so this is a fixed check, not a statistical one: measured +0.005 to +0.024 per seed
    at 10 min over 12 seeds."""
    dd = _demo_drift()
    pipe = tomllib.loads(DEMO.read_text())
    diffs = []
    for seed in (1, 2, 3):
        p, params = dd.with_seed(pipe, pipe["nodes"]["snn"]["params"], seed)
        learn = np.mean(dd.run(p, params, True, 3.0)[0])
        frozen = np.mean(dd.run(p, params, False, 3.0)[0])
        diffs.append(learn - frozen)
    assert min(diffs) >= 0.0, diffs
