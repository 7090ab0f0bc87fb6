"""Soak: the demo pipeline as a daemon for minutes — memory and latency must stay flat.

Every 5 s it reads each node process's resident memory (/proc/PID/status VmRSS) and the latency of the
control outputs received in that interval; at the end it prints, per node, RSS at the first sample after
warm-up and at the end, and per minute the latency p50/p99. A bare baseline: the same figures for the
listening process itself, which only receives.

    .venv/bin/python benchmarks/soak.py [--quick] [--minutes M] [--rt PRIO]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from spikestream.runtime.demo import DemoRun


def rss_kib(pid: int) -> int | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--rt", type=int, default=None, metavar="PRIO", help="SCHED_FIFO priority for every node")
    a = ap.parse_args()
    minutes = a.minutes or (1.0 if a.quick else 10.0)
    demo = DemoRun(warmup_s=3.0, **({"rt_priority": a.rt} if a.rt else {}))
    samples: list[tuple[float, dict[str, int | None]]] = []
    t0 = time.monotonic()
    last = [0.0]

    def tick(sup) -> None:
        now = time.monotonic()
        if now - last[0] >= 5.0:
            last[0] = now
            pids = sup.pids()
            samples.append((now - t0, {n: rss_kib(p) for n, p in pids.items()} | {"(listener)": rss_kib(os.getpid())}))

    s = demo.run(minutes * 60.0, on_tick=tick)
    p = demo.probe
    lat, t = p.c_lat[:p.nc], p.c_t[:p.nc]
    print(f"soak: demo pipeline for {minutes:.1f} min; {p.nc} control outputs; drops "
          f"{sum(st['dropped'] for st in s['stages'])}; restarts {sum(n['restarts'] for n in s['nodes'].values())}")
    after = [x for x in samples if x[0] > 15.0] or samples
    if after:
        first, end = after[0], after[-1]
        print(f"resident memory (KiB) from {first[0]:.0f} s to {end[0]:.0f} s:")
        for name in end[1]:
            a0, a1 = first[1].get(name), end[1].get(name)
            if a0 and a1:
                print(f"  {name:12s} {a0:8d} -> {a1:8d}  ({a1 - a0:+d} KiB, {100 * (a1 - a0) / a0:+.1f}%)")
    print("latency sensor -> control per minute of source time (ms):")
    for m in range(int(np.ceil(minutes))):
        sel = (t >= m * 60e6 + (3e6 if m == 0 else 0)) & (t < (m + 1) * 60e6) & ~p.c_safe[:p.nc]
        if sel.sum():
            q = np.percentile(lat[sel], [50, 99])
            print(f"  minute {m + 1:3d}: p50 {q[0]:.3f}  p99 {q[1]:.3f}  max {lat[sel].max():.3f}  (n {int(sel.sum())})")


if __name__ == "__main__":
    main()
