"""Reconstruction quality of the encoders that have a decoding rule, in the manner of Petro et al. (2020,
IEEE TNNLS): standard test signals scaled to [0, 1], each encoder's parameter picked by a small grid
search per signal, error reported as SNR = 10 log10(sum x^2 / sum (x - x_hat)^2) in dB, beside the
spikes per sample it cost. Baseline in the same run: a uniform quantiser with step = the same threshold
(what an ideal level-crossing code reaches).

    .venv/bin/python benchmarks/encode_snr.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import signal

from spikestream.encode.bsa import BSAEncoder, decode_bsa
from spikestream.encode.contrast import StepForwardEncoder, decode_step_forward
from spikestream.encode.delta import DeltaEncoder, SigmaDeltaEncoder, decode_delta, decode_sigma_delta
from spikestream.encode.population import PopulationEncoder, decode_population
from spikestream.sources.synthetic import EMGSynth

FS = 1000.0


def signals(n: int) -> dict[str, np.ndarray]:
    k = np.arange(n) / FS
    emg = EMGSynth(n_channels=1, rate_hz=FS, seed=3).read(n).data[:, 0].astype(np.float64)
    burst = np.random.default_rng(1).standard_normal(n)
    burst = signal.sosfilt(signal.butter(4, [20, 150], "bandpass", fs=FS, output="sos"), burst)
    burst *= np.exp(-0.5 * ((k - k[-1] / 2) / (k[-1] / 8)) ** 2)
    out = {
        "sine 2 Hz": np.sin(2 * np.pi * 2 * k),
        "chirp 0.5-20 Hz": signal.chirp(k, 0.5, k[-1], 20),
        "steps": np.repeat(np.random.default_rng(2).random(n // 200 + 1), 200)[:n],
        "EMG burst": burst,
        "synthetic EMG": emg,
    }
    return {name: ((x - x.min()) / (x.max() - x.min())).astype(np.float32)[:, None] for name, x in out.items()}


def snr_db(x, y) -> float:
    e = np.sum((x - y) ** 2)
    return float("inf") if e == 0 else float(10 * np.log10(np.sum(x ** 2) / e))


def run(name, x, t, edge):
    n = x.shape[0]
    sl = slice(edge, n - edge)
    rows = []

    def best(label, trials):
        res = []
        for p, fn in trials:
            i, rec = fn()
            res.append((snr_db(x[sl], rec[sl]), i.size / n, p))
        s, rate, p = max(res, key=lambda r: r[0])
        rows.append((label, s, rate, p))

    thr = (0.005, 0.01, 0.02, 0.05, 0.1)
    best("delta (level)", [(f"thr={h}", lambda h=h: (lambda i, tt: (i, decode_delta(i, tt, t, 1, h, x[0])))(
        *DeltaEncoder(1, threshold=h, mode="level", max_per_sample=1000).encode(x, t))) for h in thr])
    best("delta (reset)", [(f"thr={h}", lambda h=h: (lambda i, tt: (i, decode_delta(i, tt, t, 1, h, x[0])))(
        *DeltaEncoder(1, threshold=h).encode(x, t))) for h in thr])
    best("step_forward", [(f"thr={h}", lambda h=h: (lambda i, tt: (i, decode_step_forward(i, tt, t, 1, h, x[0])))(
        *StepForwardEncoder(1, threshold=h).encode(x, t))) for h in thr])
    best("sigma_delta", [(f"gain={g},win={w}", lambda g=g, w=w: (lambda i, tt: (i, decode_sigma_delta(i, tt, t, 1, 1.0, g, w)))(
        *SigmaDeltaEncoder(1, threshold=1.0, gain=g).encode(x, t))) for g in (0.2, 0.5, 1.0) for w in (5, 20, 50)])

    def bsa(L, amp):
        e = BSAEncoder(1, filter_len=L, filter_amp=amp)
        i, tt = e.encode(x, t)
        return i, decode_bsa(i, tt, t, 1, e.h, e.delay)

    best("bsa", [(f"L={L},amp={a}", lambda L=L, a=a: bsa(L, a)) for L in (8, 16, 24) for a in (0.05, 0.1, 0.2)])

    def pop(m, w):
        e = PopulationEncoder(1, rate_hz=FS, n_neurons=m, max_rate_hz=FS)
        i, tt = e.encode(x, t)
        r = decode_population(i, tt, t, 1, e.mu, window=w)
        return i, np.where(np.isnan(r), 0.5, r)

    best("population", [(f"M={m},win={w}", lambda m=m, w=w: pop(m, w)) for m in (8, 16) for w in (5, 20)])
    q = [(snr_db(x[sl], np.round(x[sl] / h) * h), h) for h in thr]
    print(f"\n{name}")
    print(f"  {'encoder':16s} {'SNR dB':>7s} {'spikes/sample':>14s}  best parameters")
    for label, s, rate, p in rows:
        print(f"  {label:16s} {s:7.1f} {rate:14.3f}  {p}")
    print("  quantiser step  " + "  ".join(f"{h}: {s:.1f} dB" for s, h in q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n = 2000 if a.quick else 10000
    t = np.round(np.arange(n) * 1e6 / FS).astype(np.int64)
    print(f"{n} samples at {FS:g} Hz per signal; SNR over all but {50} samples at each edge")
    for name, x in signals(n).items():
        run(name, x, t, 50)


if __name__ == "__main__":
    main()
