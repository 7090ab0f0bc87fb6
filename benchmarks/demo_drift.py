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

    .venv/bin/python benchmarks/demo_drift.py [--minutes 60] [--pipeline deploy/demo.toml]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

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
    dec = DECODERS.create(kind, calibrating=True, **dec_p)
    calib_us = int(out_p["calibrate_s"] * 1e6)
    n = int(src_p["rate_hz"] * PACKET_MS / 1000)
    total = int(minutes * 60 * 1000 / PACKET_MS)
    ys, truths, ts = [], [], []
    t_wall = time.perf_counter()
    for _ in range(total):
        c = src.read(n)
        until = int(c.t_us[-1]) + int(1e6 / src_p["rate_hz"])
        idx, t = enc.encode(np.asarray(c.data, np.float64), c.t_us)
        idx, t = snn.advance(idx, t, until)
        if dec.calibrating and until > calib_us:
            dec.calibrating = False
            snn.learning = learning in (True, "after-cal")
        y = dec.decode(idx, t, until, np.asarray(c.target[-1], np.float64) if dec.calibrating else None)
        if not dec.calibrating:
            ys.append(y.copy())
            truths.append(np.asarray(c.target[-1], np.float64))
            ts.append(until)
    wall = time.perf_counter() - t_wall
    ys, truths, ts = np.array(ys), np.array(truths), (np.array(ts) - calib_us) / 1e6
    rs = []
    for w0 in np.arange(0, ts[-1] - WINDOW_S / 2, WINDOW_S):
        m = (ts >= w0) & (ts < w0 + WINDOW_S)
        rs.append(float(np.mean([np.corrcoef(ys[m, k], truths[m, k])[0, 1] for k in range(ys.shape[1])])))
    return rs, wall, minutes * 60 / wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="source time to stream (default 60)")
    ap.add_argument("--pipeline", default=str(Path(__file__).resolve().parents[1] / "deploy" / "demo.toml"))
    a = ap.parse_args(argv)
    pipe = tomllib.loads(Path(a.pipeline).read_text())
    shipped = pipe["nodes"]["snn"]["params"]
    wave1_pipe = copy.deepcopy(pipe)
    wave1_pipe["nodes"]["output"]["params"]["decoder"]["n_inputs"] = 64
    print(f"{a.pipeline}: {a.minutes:g} min of source time per variant, r per {WINDOW_S // 60}-min window after "
          "calibration (mean over DOFs); library code in-process")
    for name, p, params, learning in (("learning", pipe, shipped, True), ("frozen", pipe, shipped, False),
                                      ("after-cal", pipe, shipped, "after-cal"), ("wave1", wave1_pipe, WAVE1_SNN, True)):
        rs, wall, rt = run(p, params, learning, a.minutes)
        print(f"{name:9s} first {rs[0]:.3f}  last {rs[-1]:.3f}  min {min(rs):.3f}   windows "
              + " ".join(f"{r:.2f}" for r in rs) + f"   ({wall:.0f} s, {rt:.0f}x real time)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
