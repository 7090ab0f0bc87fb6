"""Gesture classification on real surface EMG (Myo armband, Côté-Allard et al. 2019, IEEE TNSRE 27(4)),
per person and mean, side by side in one run:

- td_lda:        Hudgins time-domain features (MAV, WL, ZC, SSC) + LDA (scikit-learn) — the field's baseline;
- encoder_only:  delta-encoder spikes straight to spikestream's LDA decoder (log counts), frozen;
- snn_frozen:    encoder -> SNN -> LDA with every kind of learning off (a user who switched learning off);
- snn_learning:  the shipped learning pipeline: ring alignment learned without labels, STDP with
                 adaptive thresholds and synaptic normalisation, and an LDA readout that keeps adapting its
                 class means on its own confident decisions (docs/learning.md);
- rotated_*:     after the held-out half, the armband is rotated by one electrode (as the shared data's
                 README baseline does); no new labels. Accuracy over one whole pass of the held-out
                 recordings starting 60 s after the rotation (and, printed, right after / 30 s / 120 s);
- drift_*:       the same, and each channel's gain drifts by up to +-30 % over minutes (periods 2-5 min).

Protocol: per person, one continuous stream in source time: cycles 1-2 (classe_0..13) with labels
(calibration), then cycles 3-4 (classe_14..27) without labels (held-out accuracy, every 25 ms over
260 ms windows that lie inside one recording, as the TD baseline), then three passes of cycles 3-4 rotated
(and, from the same point, three passes rotated and drifting). Learning pipelines are scored
prequentially: each decision is made before the stream it belongs to can teach anything. It drives the same library objects the nodes use, in-process (not over
ZeroMQ), and prints the real-time factor of the learning pipeline.

    .venv/bin/python benchmarks/myo_gestures.py ../shared/data/myo-armband/PreTrainingDataset [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time

import numpy as np

from spikestream.decode.classify import LdaDecoder
from spikestream.registry import ENCODERS
from spikestream.snn import build_snn
from spikestream.snn.align import RingAlign

FS, CH, N_CLASSES = 200, 8, 7
DT_US = 1_000_000 // FS           # one sample
WIN, STEP = 52, 5                 # 260 ms windows, a decision every 25 ms
THRESHOLD = 2.0                   # delta-encoder level in raw Myo units (8-bit effective range), one for all
AMPLITUDE = True                  # per electrode UP, DOWN (waveform length) and AMP (mean absolute value)
AMP_THRESHOLD = 8.0               # an AMP spike per 8 units of |x|: a quarter of the spikes at the same information
PER_CH = 3 if AMPLITUDE else 2
N_HIDDEN = 64

# The shipped learning SNN (deploy/myo_replay.toml uses the same table).
SNN = {
    "dt_us": DT_US, "seed": 1, "outputs": ["input", "hidden"],
    "layers": [{"name": "hidden", "n": N_HIDDEN, "model": "lif", "theta_plus": 0.05, "tau_theta_ms": 20000.0}],
    "connections": [{
        "pre": "input", "post": "hidden", "rule": "all_to_all", "synapse": "exp_current", "delay_ms": 0.0,
        "weight": {"init": "uniform", "low": 0.0, "high": 1.0},
        "plasticity": {"rule": "stdp_pair", "a_plus": 0.002, "a_minus": 0.0016, "tau_plus_ms": 20,
                       "tau_minus_ms": 20, "w_max": 2.0, "bound": "soft"},
        "normalize": {"target": 8.0, "every_ms": 100}}],
}
READOUT = {"n_classes": N_CLASSES, "window_ms": WIN * 1000 / FS, "log_counts": True, "shrink": 0.05}
ADAPT = {"adapt_rate": 0.001, "adapt_confidence": 0.9}


def subjects(root: str) -> list[str]:
    return sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "training0", "classe_0.dat")))


def load(root: str, person: str) -> list[tuple[int, np.ndarray]]:
    """[(label, samples [n, 8] float)] for classe_0..27 in order."""
    out = []
    folder = os.path.join(root, person, "training0")
    files = sorted((f for f in os.listdir(folder) if re.fullmatch(r"classe_\d+\.dat", f)),
                   key=lambda f: int(f[7:-4]))
    for f in files:
        x = np.fromfile(os.path.join(folder, f), dtype="<i2")
        x = x[: x.size - x.size % CH].reshape(-1, CH).astype(np.float64)
        out.append((int(f[7:-4]) % N_CLASSES, x))
    if len(out) != 28:
        raise ValueError(f"{folder}: expected classe_0..27.dat, found {len(out)} recordings")
    return out


# ---------------------------------------------------------------------------------- the classical baseline
def td_features(x: np.ndarray) -> np.ndarray:
    """Hudgins MAV, WL, ZC, SSC per channel over 260 ms windows every 25 ms, inside one recording."""
    ends = np.arange(WIN, x.shape[0] + 1, STEP)
    w = np.stack([x[e - WIN:e] for e in ends])                      # [n, WIN, CH]
    d = np.diff(w, axis=1)
    mav = np.abs(w).mean(1)
    wl = np.abs(d).sum(1)
    zc = ((w[:, :-1] * w[:, 1:] < 0) & (np.abs(d) >= 1)).sum(1)
    ssc = ((w[:, 1:-1] - w[:, :-2]) * (w[:, 1:-1] - w[:, 2:]) > 0).sum(1)
    return np.hstack([mav, wl, zc, ssc])


# ---------------------------------------------------------------------------------- the spiking pipelines
class Pipeline:
    """encoder -> [ring alignment] -> [SNN] -> LDA, fed 25 ms at a time, as the nodes are."""

    def __init__(self, snn: bool, learning: bool):
        self.enc = ENCODERS.create("delta", n_channels=CH, threshold=THRESHOLD, mode="level", max_per_sample=255,
                                   amplitude=AMPLITUDE, amplitude_threshold=AMP_THRESHOLD)
        self.align = RingAlign(n_inputs=PER_CH * CH, per_channel=PER_CH) if learning else None
        self.snn = build_snn(SNN, PER_CH * CH) if snn else None
        if self.snn is not None:
            self.snn.learning = learning
        n = self.snn.n_outputs if self.snn is not None else PER_CH * CH
        self.dec = LdaDecoder(n_inputs=n, calibrating=True, **READOUT, **(ADAPT if learning else {}))
        self.t_us = 0

    def run(self, x: np.ndarray, label: int | None) -> np.ndarray:
        """One recording; returns the decision at each 25 ms step whose window lies inside it (-1 before)."""
        out = []
        for a in range(0, x.shape[0] - STEP + 1, STEP):
            t = self.t_us + np.arange(STEP, dtype=np.int64) * DT_US
            until = int(t[-1]) + DT_US
            idx, ts = self.enc.encode(x[a:a + STEP], t)
            if self.align is not None:
                idx = self.align.map(idx, ts, until)
            if self.snn is not None:
                idx, ts = self.snn.advance(idx, ts, until)
            inside = a + STEP >= WIN
            target = np.array([float(label)]) if label is not None and inside else None
            y = self.dec.decode(idx, ts, until, target)
            out.append(int(y[0]) if inside else -1)
            self.t_us = until
        return np.asarray(out)

    def end_calibration(self) -> None:
        self.dec.calibrating = False


def rotated_stream(test: list, passes: int, seed: int, drift: bool) -> list[tuple[int, np.ndarray, float]]:
    """The held-out recordings in shuffled order, rotated by one electrode (``np.roll(x, 1, axis=1)``), with
    each channel's gain drifting as 1 + 0.3 sin(2 pi t / T_c + phi_c), T_c in 2-5 min, if ``drift``;
    [(label, x, start s after the rotation)]."""
    rng = np.random.default_rng(seed)
    drift_rng = np.random.default_rng(seed + 1)
    T = drift_rng.uniform(120, 300, CH)
    phi = drift_rng.uniform(0, 2 * np.pi, CH)
    out, t0 = [], 0.0
    for _ in range(passes):
        for i in rng.permutation(len(test)):
            lab, x = test[i]
            t = t0 + np.arange(x.shape[0])[:, None] / FS
            g = 1.0 + 0.3 * np.sin(2 * np.pi * t / T + phi) if drift else 1.0
            out.append((lab, np.roll(x, 1, axis=1) * g, t0))
            t0 += x.shape[0] / FS
    return out


def person(root: str, name: str, seed: int) -> tuple[dict, dict, float]:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rec = load(root, name)
    cal, test = rec[:14], rec[14:]
    streams = {"rotated": rotated_stream(test, 3, seed, drift=False),
               "drift": rotated_stream(test, 3, seed, drift=True)}
    acc: dict[str, float] = {}
    curve: dict[str, dict[str, float]] = {}

    # TD + LDA
    Xc = np.vstack([td_features(x) for _, x in cal])
    yc = np.concatenate([np.full(len(td_features(x)), lab) for lab, x in cal])
    lda = LinearDiscriminantAnalysis().fit(Xc, yc)
    hits = [lda.predict(td_features(x)) == lab for lab, x in test]
    acc["td_lda"] = float(np.mean(np.concatenate(hits)))
    for case, rot in streams.items():
        curve[f"{case}_td_lda"] = windows([(t0, lda.predict(td_features(x)) == lab) for lab, x, t0 in rot])

    # spiking pipelines: calibration, held-out, rotation — one stream each
    wall = stream_s = 0.0
    for key, snn, learning in (("encoder_only", False, False), ("snn_frozen", True, False),
                               ("snn_learning", True, True)):
        t_start = time.perf_counter()
        p = Pipeline(snn, learning)
        for lab, x in cal:
            p.run(x, lab)
        p.end_calibration()
        hits = []
        for lab, x in test:
            d = p.run(x, None)
            hits.append(d[d >= 0] == lab)
        acc[key] = float(np.mean(np.concatenate(hits)))
        if key == "snn_learning":
            wall = time.perf_counter() - t_start
            stream_s = p.t_us / 1e6
        if key == "encoder_only":
            continue
        after_held_out = copy.deepcopy(p)
        for case, rot in streams.items():  # both continue from the same point: the end of the held-out pass
            q = p if case == "rotated" else after_held_out
            hits = []
            for lab, x, t0 in rot:
                d = q.run(x, None)
                hits.append((t0, d[d >= 0] == lab))
            curve[f"{case}_{key}"] = windows(hits)
            if key == "snn_learning":
                curve[f"{case}_{key}"]["shift"] = q.align.shift
    for k in ("td_lda", "snn_frozen", "snn_learning"):
        acc[f"rotated_{k}"] = curve[f"rotated_{k}"]["60s"]
        acc[f"drift_{k}"] = curve[f"drift_{k}"]["60s"]
    return acc, curve, stream_s / max(wall, 1e-9)


def windows(hits: list[tuple[float, np.ndarray]]) -> dict[str, float]:
    """Accuracy right after the rotation (first 10 s) and over one whole pass (70 s of recordings)
    starting 30, 60 and 120 s after it."""
    pass_s = sum(h.size for _, h in hits[:14]) * STEP / FS + 14 * (WIN - STEP) / FS  # one pass, in seconds

    def between(a, b):
        sel = [h for t0, h in hits if a <= t0 < b]
        return float(np.mean(np.concatenate(sel))) if sel else float("nan")
    return {"first10s": between(0, 10), "30s": between(30, 30 + pass_s), "60s": between(60, 60 + pass_s),
            "120s": between(120, 120 + pass_s)}


KEYS = ("td_lda", "encoder_only", "snn_frozen", "snn_learning", "rotated_td_lda", "rotated_snn_frozen",
        "rotated_snn_learning", "drift_td_lda", "drift_snn_frozen", "drift_snn_learning")
SHORT = ("td_lda", "enc_only", "snn_frozen", "snn_learn", "rot_td_lda", "rot_frozen", "rot_learn", "drift_td_lda",
         "drift_frozen", "drift_learn")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", help="folder holding PERSON/training0/classe_K.dat")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--subjects", type=int, default=0, help="only the first N people (0 = all)")
    a = ap.parse_args(argv)
    names = subjects(a.dataset)
    if not names:
        print(f"no PERSON/training0/classe_K.dat under {a.dataset}", file=sys.stderr)
        return 2
    if a.subjects:
        names = names[: a.subjects]
    print(f"{len(names)} people under {a.dataset}; library code in-process (not the nodes over ZeroMQ)")
    print(f"{'person':10s} " + " ".join(f"{k:>12s}" for k in SHORT) + "   rt factor")
    per, curves, rts = {}, {}, []
    for i, n in enumerate(names):
        acc, curve, rt = person(a.dataset, n, seed=i)
        per[n], curves[n] = acc, curve
        rts.append(rt)
        print(f"{n:10s} " + " ".join(f"{100 * acc[k]:11.1f}%" for k in KEYS) + f"   {rt:6.0f}x", flush=True)
    mean = {k: float(np.mean([per[n][k] for n in names])) for k in KEYS}
    print(f"{'mean':10s} " + " ".join(f"{100 * mean[k]:11.1f}%" for k in KEYS) + f"   {np.median(rts):6.0f}x (median)")
    for case, what in (("rotated", "rotated by one electrode"),
                       ("drift", "rotated by one electrode, each channel's gain drifting by up to +-30 %")):
        print(f"\n{what}, no labels: accuracy over one pass starting at")
        for k in ("td_lda", "snn_frozen", "snn_learning"):
            row = {w: np.nanmean([curves[n][f"{case}_{k}"][w] for n in names]) for w in ("first10s", "30s", "60s", "120s")}
            print(f"  {k:13s} right after {100 * row['first10s']:5.1f}%   30 s {100 * row['30s']:5.1f}%   "
                  f"60 s {100 * row['60s']:5.1f}%   120 s {100 * row['120s']:5.1f}%")
        found = [curves[n][f"{case}_snn_learning"]["shift"] for n in names]
        print(f"  ring alignment found shift 1 for {sum(s == 1 for s in found)} of {len(found)} people")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"mean": mean, "per_subject": per, "rotation_curves": curves,
                       "realtime_factor_median": float(np.median(rts))}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
