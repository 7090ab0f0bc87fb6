"""Does the demo keep its tracking while the SNN learns? The demo pipeline's own stages (deploy/demo.toml:
synthetic EMG -> delta encoder -> SNN -> linear RLS readout calibrated for calibrate_s), run in-process as
fast as they go for an hour of source time, and the tracking correlation r (decoded vs true movement,
mean over the DOFs) per 5-minute window after calibration, for:

- learning:   the SNN as shipped, learning all the time;
- frozen:     the same SNN with learning off (a user who switched it off);
- after-cal:  the same SNN learning only once the readout's calibration is over (`learning = {from_s = ..}`);
- wave1:      the SNN the demo shipped before (hidden layer only, hard-bounded STDP, no normalisation or
              homeostasis), learning — the drift issue 10 measured (r 0.88 -> 0.73 in 5 minutes).

Packets of 10 ms (the node sends 1 ms; the encoder, SNN and features are chunk-invariant, so only the
number of outputs differs).

    .venv/bin/python benchmarks/demo_drift.py [--minutes 60] [--pipeline deploy/demo.toml] [--seeds 1,2,3,4,5,6]

The demo's r depends on its seeds (the synthetic signal and the random network; 0.85-0.94 frozen over seeds 1-6
at 10 min), so a comparison of learning and frozen is made on the same seeds, and `--seeds` shows it over several.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from spikestream.decode.calibration import CalibrationSchedule
from spikestream.registry import DECODERS, ENCODERS, SOURCES
from spikestream.snn import build_snn

WAVE1_SNN = {
    "dt_us": 1000, "seed": 1, "outputs": ["hidden"],
    "layers": [{"name": "hidden", "n": 64, "model": "lif"}],
    "connections": [{"pre": "input", "post": "hidden", "rule": "all_to_all", "synapse": "exp_current",
                     "delay_ms": 1.0, "weight": {"init": "uniform", "low": 0.0, "high": 2.0},
                     "plasticity": {"rule": "stdp_pair", "a_plus": 0.002, "a_minus": 0.0021, "tau_plus_ms": 20,
                                    "tau_minus_ms": 20, "w_max": 4.0}}],
}
# --rule: the demo's hidden-layer rules measured in docs/learning.md ("pair" is the one shipped before 2026-12-07)
RULES = {
    "pair": {"rule": "stdp_pair", "a_plus": 0.002, "a_minus": 0.0016, "tau_plus_ms": 20, "tau_minus_ms": 20,
             "w_max": 2.0, "bound": "soft"},
    "triplet": {"rule": "stdp_triplet", "w_max": 2.0},
    "bcm": {"rule": "stdp_bcm", "w_max": 2.0},
}
PACKET_MS = 10
WINDOW_S = 300


def run(pipe: dict, snn_params: dict, learning: bool | str, minutes: float) -> tuple[list[float], float, float]:
    """`learning`: True, False or "after-cal" (off until the readout's calibration ends)."""
    src_p = pipe["nodes"]["emg"]["params"]
    out_p = pipe["nodes"]["output"]["params"]
    src = SOURCES.create("emg_synth", n_channels=src_p["channels"], rate_hz=src_p["rate_hz"], n_dof=src_p["dof"],
                         seed=src_p["seed"])
    enc_p = dict(src_p["encoder"])
    enc = ENCODERS.create(enc_p.pop("kind", None) or enc_p.pop("encoder"), n_channels=src_p["channels"], **enc_p)
    snn = build_snn(snn_params, enc.n_outputs)
    snn.learning = learning is True
    dec_p = dict(out_p["decoder"])
    kind = dec_p.pop("kind")
    dec_p["n_inputs"] = snn.n_outputs
    sched = CalibrationSchedule(out_p.get("calibrate_s"), from_s=out_p.get("calibrate_from_s"))  # as the node's
    dec = DECODERS.create(kind, calibrating=sched.initially_calibrating, **dec_p)
    calib_us = sched.end_us  # r is measured after the calibration
    n = int(src_p["rate_hz"] * PACKET_MS / 1000)
    total = int(minutes * 60 * 1000 / PACKET_MS)
    ys, truths, ts = [], [], []
    t_wall = time.perf_counter()
    for _ in range(total):
        c = src.read(n)
        until = int(c.t_us[-1]) + int(1e6 / src_p["rate_hz"])
        idx, t = enc.encode(np.asarray(c.data, np.float64), c.t_us)
        idx, t = snn.advance(idx, t, until)
        sched.begin(int(c.t_us[0]))
        on = sched.calibrating_at(until)
        if on is not None:
            dec.calibrating = on  # (ending the calibration fits the decoder, as in the output node)
        if learning == "after-cal" and until > calib_us:
            snn.learning = True
        y = dec.decode(idx, t, until, np.asarray(c.target[-1], np.float64) if dec.calibrating else None)
        sched.advance(until)
        if until > calib_us:
            ys.append(y.copy())
            truths.append(np.asarray(c.target[-1], np.float64))
            ts.append(until)
    wall = time.perf_counter() - t_wall
    ys, truths, ts = np.array(ys), np.array(truths), (np.array(ts) - calib_us) / 1e6
    rs = []
    for w0 in np.arange(0, max(ts[-1] - WINDOW_S / 2, 1e-9), WINDOW_S):  # a run under one window: one r over all
        m = (ts >= w0) & (ts < w0 + WINDOW_S)
        rs.append(float(np.mean([np.corrcoef(ys[m, k], truths[m, k])[0, 1] for k in range(ys.shape[1])])))
    return rs, wall, minutes * 60 / wall


def with_seed(pipe: dict, snn_params: dict, seed: int) -> tuple[dict, dict]:
    """The same pipeline with another synthetic signal (source seed) and another random network (SNN seed)."""
    pipe, snn_params = copy.deepcopy(pipe), copy.deepcopy(snn_params)
    pipe["nodes"]["emg"]["params"]["seed"] = seed
    snn_params["seed"] = seed
    return pipe, snn_params


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="source time to stream (default 60)")
    ap.add_argument("--pipeline", default=str(Path(__file__).resolve().parents[1] / "deploy" / "demo.toml"))
    ap.add_argument("--seeds", default="",
                    help="comma-separated seeds (e.g. 1,2,3,4,5,6): each seed is another synthetic signal and another "
                         "random network; per seed r for learning and frozen, then the mean paired difference "
                         "(default: the file's own seeds, all four variants)")
    ap.add_argument("--rule", choices=sorted(RULES), default=None,
                    help="the hidden layer's plasticity instead of the file's (the ablation of docs/learning.md)")
    ap.add_argument("--calibrate-from", type=float, default=None, help="calibrate_from_s instead of the file's")
    ap.add_argument("--ridge", type=float, default=None, help="the readout's ridge instead of the file's")
    a = ap.parse_args(argv)
    pipe = tomllib.loads(Path(a.pipeline).read_text())
    shipped = pipe["nodes"]["snn"]["params"]
    out_p = pipe["nodes"]["output"]["params"]
    if a.rule:
        shipped["connections"][0]["plasticity"] = dict(RULES[a.rule])
    if a.calibrate_from is not None:
        out_p["calibrate_from_s"] = a.calibrate_from
    if a.ridge is not None:
        out_p["decoder"]["ridge"] = a.ridge
    if a.rule or a.calibrate_from is not None or a.ridge is not None:
        print(f"changed: plasticity {shipped['connections'][0]['plasticity']}, calibrate_from_s "
              f"{out_p.get('calibrate_from_s', 0.0)}, ridge {out_p['decoder'].get('ridge', 0.0)}")
    print(f"{a.pipeline}: {a.minutes:g} min of source time per variant, r per {WINDOW_S // 60}-min window after "
          "calibration (mean over DOFs); library code in-process")
    if a.seeds:
        return seeds_table(pipe, shipped, [int(x) for x in a.seeds.split(",")], a.minutes)
    wave1_pipe = copy.deepcopy(pipe)
    wave1_pipe["nodes"]["output"]["params"]["decoder"]["n_inputs"] = 64
    for name, p, params, learning in (("learning", pipe, shipped, True), ("frozen", pipe, shipped, False),
                                      ("after-cal", pipe, shipped, "after-cal"), ("wave1", wave1_pipe, WAVE1_SNN, True)):
        rs, wall, rt = run(p, params, learning, a.minutes)
        print(f"{name:9s} first {rs[0]:.3f}  last {rs[-1]:.3f}  min {min(rs):.3f}   windows "
              + " ".join(f"{r:.2f}" for r in rs) + f"   ({wall:.0f} s, {rt:.0f}x real time)", flush=True)
    return 0


def seeds_table(pipe: dict, shipped: dict, seeds: list[int], minutes: float) -> int:
    """Learning against frozen on the same signal and network, per seed: r over the whole run after calibration
    (mean of the 5-min windows), first and last window; then the means and the paired difference."""
    rows = []
    print("seed   learning: mean first  last    frozen: mean first  last    learning - frozen (mean)")
    for seed in seeds:
        p, params = with_seed(pipe, shipped, seed)
        learn = run(p, params, True, minutes)[0]
        frozen = run(p, params, False, minutes)[0]
        rows.append((np.mean(learn), learn[0], learn[-1], np.mean(frozen), frozen[0], frozen[-1]))
        r = rows[-1]
        print(f"{seed:4d}   {r[0]:14.3f} {r[1]:5.3f} {r[2]:5.3f}   {r[3]:12.3f} {r[4]:5.3f} {r[5]:5.3f}   "
              f"{r[0] - r[3]:+.3f}", flush=True)
    m = np.mean(rows, axis=0)
    d = np.array([r[0] - r[3] for r in rows])
    print(f"mean   {m[0]:14.3f} {m[1]:5.3f} {m[2]:5.3f}   {m[3]:12.3f} {m[4]:5.3f} {m[5]:5.3f}   {d.mean():+.3f} "
          f"(learning >= frozen for {int((d >= 0).sum())} of {len(d)} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
