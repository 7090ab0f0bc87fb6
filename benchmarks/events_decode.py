"""Decode throughput (Mev/s) per event-file format: spikestream beside expelliarmus and faery, same file,
same run. Files are synthesised (1280x720 moving edges, ~1.5 Mev/s recording rate) into a temp dir.

    .venv/bin/python benchmarks/events_decode.py [--quick] [--events N] [--repeats R]

Reports the median of R timed full-file reads (after one warm-up read each). The machine is shared:
timings are noisy; compare ratios measured in the same run. The EVT 3.0 file is kept under 16.8 s of
recording so that expelliarmus's time decoding issue beyond the 24-bit wrap does not matter (its EVT 3.0
timestamps still disagree with the spec; only its speed is compared).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spikestream.events.io import open_reader, open_writer

_ref_path = Path(__file__).resolve().parent.parent / "tests" / "events" / "format_reference.py"
_spec = importlib.util.spec_from_file_location("events_format_reference", _ref_path)
fr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fr)

W, H = 1280, 720


def _interleaved(runners, repeats, n_expected):
    """Mev/s per runner: one warm-up each, then `repeats` rounds taking the runners in turn (so that load
    from other processes hits all of them alike); the median per runner."""
    for name, fn in runners.items():
        got = fn()
        assert got == n_expected, (name, got, n_expected)
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: n_expected / statistics.median(ts) / 1e6 for name, ts in times.items()}


def ours(path):
    def run():
        n = 0
        with open_reader(path) as r:
            for ev in r:
                n += len(ev)
        return n
    return run


def expelliarmus_reader(path, enc):
    import expelliarmus

    def run():
        return len(expelliarmus.Wizard(encoding=enc).read(str(path)))
    return run


def faery_reader(path):
    import faery

    def run():
        return sum(len(p) for p in faery.events_stream_from_file(str(path)))
    return run


def size_args(doc: str, quick: tuple[int, int], full: tuple[int, int]) -> tuple[int, int]:
    """The event benchmarks' command line (--quick, --events N, --repeats R): (events, repeats), from the
    (events, repeats) pairs `quick` and `full` unless given."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{quick[0] // 1_000_000} M events, {quick[1]} repeats")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    a = ap.parse_args()
    n, reps = quick if a.quick else full
    return a.events or n, a.repeats or reps


def main() -> int:
    n, reps = size_args(__doc__, quick=(1_000_000, 3), full=(6_000_000, 5))
    ev = fr.moving_edges(n, W, H, t0=0, rate_mev_s=1.5, seed=0)
    dur_s = (ev["t"][-1] - ev["t"][0]) / 1e6
    print(f"recording: {n:,} events, {dur_s:.2f} s, {W}x{H}; median of {reps} reads; shared 2-core machine, noisy")
    try:
        import faery
    except ImportError:
        faery = None
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        files = {}
        for fmt, ext in [("evt2", ".raw"), ("evt21", ".raw"), ("evt3", ".raw"), ("dat", ".dat"), ("aedat4", ".aedat4"),
                         ("npy", ".npy"), ("csv", ".csv")]:
            p = d / f"ours_{fmt}{ext}"
            with open_writer(p, format=fmt, width=W, height=H) as w:
                w.write(ev)
            files[fmt] = p
        if faery is not None:
            fa = np.zeros(n, faery.EVENTS_DTYPE)
            fa["t"], fa["x"], fa["y"], fa["on"] = ev["t"], ev["x"], ev["y"], ev["p"] != 0
            p = d / "faery_evt3.raw"
            faery.events_stream_from_array(fa, (W, H)).to_file(str(p), version="evt3", zero_t0=False)
            files["evt3 (faery-written)"] = p
        print(f"{'format':22s} {'file MB':>8s} {'ours Mev/s':>11s} {'expelliarmus':>13s} {'faery':>8s}"
              f" {'ours/expel':>11s} {'ours/faery':>11s}")
        for name, p in files.items():
            fmt = name.split()[0]
            runners = {"ours": ours(p)}
            if fmt in ("evt2", "evt3", "dat"):
                try:
                    import expelliarmus  # noqa: F401
                    runners["expelliarmus"] = expelliarmus_reader(p, fmt)
                except ImportError:
                    pass
            if faery is not None and fmt not in ("npy", "evt21"):  # faery has no EVT 2.1 decoder
                runners["faery"] = faery_reader(p)
            rate = _interleaved(runners, reps, n)
            r_ours, r_ex, r_fa = rate["ours"], rate.get("expelliarmus"), rate.get("faery")

            def f(v):
                return f"{v:.1f}" if v is not None else "-"

            def ratio(v):
                return f"{r_ours / v:.2f}x" if v else "-"
            print(f"{name:22s} {os.path.getsize(p) / 1e6:8.1f} {r_ours:11.1f} {f(r_ex):>13s} {f(r_fa):>8s}"
                  f" {ratio(r_ex):>11s} {ratio(r_fa):>11s}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
