"""Decoder evaluation: accuracy / correlation on synthetic EMG with ground truth, and time per tick.

Part 1 (quality): `EMGSynth` (8 channels, 1 kHz, 2 DOF, 4 gestures incl. rest) -> the demo's delta encoder
(threshold 0.25, 16 UP/DOWN neurons) -> 10 ms spike packets -> each decoder; then again with the
demo's SNN (deploy/demo.toml: 64 LIF neurons, STDP on) between encoder and decoders. Continuous decoders are
calibrated on the grip targets for the first half, then frozen and scored by Pearson r on the second
half (mean over DOF); discrete decoders are calibrated on the gesture labels and scored by accuracy on
the second half (all ticks, and "settled": ticks >= 200 ms after a gesture change). Baselines: a
ridge regression fitted offline on the same features (continuous) and chance (gestures).

Part 2 (speed): Poisson spikes from 100 neurons at 20 Hz in 10 ms ticks, 8 outputs; median wall time of
one `decode` call per tick (frozen, and while calibrating) over several repeats, beside a bare numpy
baseline that does the minimum any decoder must do (exponential rate update with np.add.at, then one
W^T x) measured in the same run. Target: < 0.2 ms per tick. This machine is shared: timings are noisy.

    .venv/bin/python benchmarks/decode_eval.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spikestream.encode.delta import DeltaEncoder
from spikestream.registry import DECODERS
from spikestream.sources.synthetic import EMGSynth

TICK_US = 10_000
CONTINUOUS = {
    "linear_rls": {"tau_ms": 150.0},
    "linear_lms": {"tau_ms": 150.0, "mu": 0.05},
    "kalman": {"tau_ms": 150.0},
    "kalman_ss": {"tau_ms": 150.0},
    "population_vector": {"tau_ms": 150.0},
}
DISCRETE = {"lda": {"window_ms": 200.0}, "wta": {"tau_ms": 150.0}}


def demo_snn(n_inputs: int):
    """The SNN of deploy/demo.toml (STDP learning on), built by the library the snn node uses."""
    import pathlib
    import tomllib

    from spikestream.snn import build_snn

    doc = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "deploy" / "demo.toml").read_text())
    return build_snn(doc["nodes"]["snn"]["params"], n_inputs)


def emg_packets(seconds: float, seed: int, snn: bool = False):
    src = EMGSynth(n_channels=8, rate_hz=1000.0, n_dof=2, seed=seed, n_gestures=4)
    enc = DeltaEncoder(8, threshold=0.25)
    net = demo_snn(enc.n_outputs) if snn else None
    n_ticks = int(seconds * 1e6 / TICK_US)
    packets, targets, labels, mav = [], [], [], []
    for k in range(n_ticks):
        ch = src.read(10)  # 10 rows = 10 ms
        mav.append(np.abs(ch.data).mean(axis=0))
        idx, t = enc.encode(ch.data, ch.t_us)
        t0 = k * TICK_US
        if net is not None:
            idx, t = net.advance(idx, t, t0 + TICK_US)
        packets.append((np.asarray(idx, np.int64), np.asarray(t, np.int64), t0 + TICK_US))
        targets.append(ch.target[-1].astype(np.float64))
        labels.append(int(ch.gesture[-1]))
    n_out = net.n_outputs if net is not None else enc.n_outputs
    return packets, np.array(targets), np.array(labels), n_out, np.array(mav)


def run_decoder(dec, packets, targets, n_cal):
    out = np.zeros((len(packets), dec.n_outputs))
    for k, (idx, t, t1) in enumerate(packets):
        if k == n_cal:
            dec.calibrating = False
        out[k] = dec.decode(idx, t, t1, targets[k] if k < n_cal else None)
    return out


def quality(seconds: float, seed: int, snn: bool = False) -> None:
    packets, Y, lab, n_in, mav = emg_packets(seconds, seed, snn)
    n_cal = len(packets) // 2
    what = f"{n_in} neurons of the demo SNN (STDP on)" if snn else f"{n_in} delta neurons"
    print(f"\n== quality: {seconds:.0f} s synthetic EMG (seed {seed}), {what}, "
          f"{len(packets)} ticks of 10 ms, calibrate on the first half ==")
    # offline ridge on the same exponential features: the bar an online readout should reach
    feats = DECODERS.create("rate", n_inputs=n_in, tau_ms=150.0)
    F = np.array([np.append(feats.decode(i, t, t1), 1.0) for i, t, t1 in packets])
    Wr = np.linalg.solve(F[:n_cal].T @ F[:n_cal] + 1.0 * np.eye(F.shape[1]), F[:n_cal].T @ Y[:n_cal])
    ridge = F[n_cal:] @ Wr
    r_base = np.mean([np.corrcoef(ridge[:, d], Y[n_cal:, d])[0, 1] for d in range(Y.shape[1])])
    print(f"{'decoder':<20}{'r (test)':>10}{'vs offline ridge':>18}")
    for kind, kw in CONTINUOUS.items():
        dec = DECODERS.create(kind, n_inputs=n_in, n_outputs=Y.shape[1], calibrating=True, **kw)
        est = run_decoder(dec, packets, Y, n_cal)[n_cal:]
        r = np.mean([np.corrcoef(est[:, d], Y[n_cal:, d])[0, 1] for d in range(Y.shape[1])])
        print(f"{kind:<20}{r:>10.3f}{r / r_base:>17.2f}x")
    print(f"{'(offline ridge)':<20}{r_base:>10.3f}")
    C = int(lab.max()) + 1
    change = np.r_[True, lab[1:] != lab[:-1]]
    since = np.zeros(len(lab), int)
    for k in range(1, len(lab)):
        since[k] = 0 if change[k] else since[k - 1] + 1
    settled = since[n_cal:] >= 20
    chance = np.max(np.bincount(lab[n_cal:], minlength=C)) / (len(lab) - n_cal)
    print(f"{'decoder':<20}{'accuracy':>10}{'settled':>10}   (majority-class chance {chance:.3f}, {C} classes)")
    # Hudgins-style baseline without spikes: LDA on the raw EMG mean absolute value over the same 200 ms
    kern = np.ones(20) / 20
    F = np.stack([np.convolve(mav[:, c], kern)[: len(mav)] for c in range(mav.shape[1])], 1)
    mu = np.array([F[:n_cal][lab[:n_cal] == c].mean(0) for c in range(C)])
    R = F[:n_cal] - mu[lab[:n_cal]]
    S = R.T @ R / (n_cal - C)
    S = 0.95 * S + 0.05 * np.trace(S) / S.shape[0] * np.eye(S.shape[0])
    Si_mu = np.linalg.solve(S, mu.T).T
    g = F[n_cal:] @ Si_mu.T - 0.5 * np.sum(Si_mu * mu, 1) + np.log(np.bincount(lab[:n_cal], minlength=C) / n_cal)
    pm = np.argmax(g, 1)
    print(f"{'(raw-EMG MAV LDA)':<20}{np.mean(pm == lab[n_cal:]):>10.3f}{np.mean(pm[settled] == lab[n_cal:][settled]):>10.3f}"
          "   offline, no spikes: what the signal allows")
    for kind, kw in DISCRETE.items():
        dec = DECODERS.create(kind, n_inputs=n_in, n_classes=C, calibrating=True, **kw)
        pred = run_decoder(dec, packets, lab[:, None].astype(float), n_cal)[n_cal:, 0]
        acc = np.mean(pred == lab[n_cal:])
        print(f"{kind:<20}{acc:>10.3f}{np.mean(pred[settled] == lab[n_cal:][settled]):>10.3f}")


def poisson_ticks(n_ticks, N=100, rate=20.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_ticks):
        cnt = rng.poisson(rate * TICK_US / 1e6, N)
        idx = np.repeat(np.arange(N), cnt)
        t = rng.integers(k * TICK_US, (k + 1) * TICK_US, idx.size)
        o = np.argsort(t, kind="stable")
        out.append((idx[o], t[o], (k + 1) * TICK_US))
    return out


def bare_numpy(ticks, N, K):
    """The least a decoder must do, in plain numpy: exponential rates updated by source time, then W^T x."""
    r = np.zeros(N)
    tl = np.zeros(N)
    W = np.random.default_rng(0).normal(size=(N + 1, K))
    x = np.ones(N + 1)
    tau = 100e3
    times = []
    for idx, t, t1 in ticks:
        t0 = time.perf_counter()
        # one decay to the packet end, then each spike's contribution decayed to the end (exact)
        r *= np.exp(-(t1 - tl) / tau)
        tl[:] = t1
        np.add.at(r, idx, np.exp(-(t1 - t) / tau) * 10.0)
        x[:N] = r
        _ = W.T @ x
        times.append(time.perf_counter() - t0)
    return np.median(times[10:])


def speed(n_ticks: int, repeats: int) -> None:
    N, K, C = 100, 8, 8
    ticks = poisson_ticks(n_ticks + 50, N)
    y = np.random.default_rng(1).random((n_ticks + 50, K))
    print(f"\n== speed: {N} neurons x {K} outputs, 10 ms ticks at 20 Hz/neuron (~{N * 0.2:.0f} spikes/tick); "
          f"median of {repeats} repeats x {n_ticks} ticks; shared 2-core machine, noisy ==")
    base = np.median([bare_numpy(ticks, N, K) for _ in range(repeats)])
    print(f"{'decoder':<20}{'frozen ms':>10}{'learning ms':>13}{'frozen/bare':>13}{'< 0.2 ms':>10}")
    kinds = {**{k: {"n_outputs": K} for k in CONTINUOUS}, "rate": {}, "counts": {},
             "lda": {"n_classes": C}, "wta": {"n_classes": C}}
    for kind, kw in kinds.items():
        res = {}
        for mode in ("frozen", "learning"):
            meds = []
            for rep in range(repeats):
                dec = DECODERS.create(kind, n_inputs=N, calibrating=True, **kw)
                tgt = (lambda k: y[k]) if kind not in ("lda", "wta") else (lambda k: [float(k // 100 % C)])
                for k in range(50):  # warm up (JIT) and give fitted decoders something to fit
                    dec.decode(*ticks[k][:2], ticks[k][2], tgt(k))
                if mode == "frozen":
                    dec.calibrating = False
                ts = []
                for k in range(50, 50 + n_ticks):
                    i, t, t1 = ticks[k]
                    a = time.perf_counter()
                    dec.decode(i, t, t1, tgt(k) if mode == "learning" else None)
                    ts.append(time.perf_counter() - a)
                meds.append(np.median(ts))
            res[mode] = np.median(meds) * 1e3
        print(f"{kind:<20}{res['frozen']:>10.4f}{res['learning']:>13.4f}{res['frozen'] / (base * 1e3):>12.2f}x"
              f"{'yes' if res['frozen'] < 0.2 else 'NO':>10}")
    print(f"{'(bare numpy)':<20}{base * 1e3:>10.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter run (CI smoke)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-snn", action="store_true", help="skip the pass through the demo SNN")
    a = ap.parse_args()
    quality(40.0 if a.quick else 240.0, a.seed)
    if not a.no_snn:
        quality(40.0 if a.quick else 120.0, a.seed, snn=True)
    speed(300 if a.quick else 2000, 3 if a.quick else 5)


if __name__ == "__main__":
    main()
