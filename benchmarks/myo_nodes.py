"""deploy/myo_replay.toml as a user runs it, over ZeroMQ in real processes, for every person under DATASET_DIR:
each person's held-out accuracy from the run's report (the output node's `eval_accuracy`), and the mean.

This is the node path of benchmarks/myo_gestures.py's `snn_learning` column (which drives the same library
objects in-process). Two figures per person: every evaluation decision (`eval_accuracy`, including the first
260 ms of each recording, whose window still holds the previous gesture), and the settled ones
(`eval_settled_accuracy`: the label has held for the decoder's 260 ms window), which is how the in-process
benchmark and the TD+LDA baseline score. Every run must end by itself with every packet through every node
and 0 drops (else it is an error, not a figure).

    .venv/bin/python benchmarks/myo_nodes.py ../shared/data/myo-armband/PreTrainingDataset [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from myo_replay_speed import PIPELINE, run_once


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", help="folder holding PERSON/training0/classe_K.dat")
    ap.add_argument("--json", help="write {person: [every, settled], ..., 'mean': [every, settled]} here")
    a = ap.parse_args(argv)
    people = sorted(p for p in Path(a.dataset).iterdir() if (p / "training0" / "classe_0.dat").is_file())
    if not people:
        raise SystemExit(f"no PERSON/training0/classe_K.dat under {a.dataset}")
    print(f"{PIPELINE.name} over ZeroMQ (real nodes under `spikestream run`), {len(people)} people")
    acc, rt = {}, []  # person -> (every decision, settled decisions)
    with tempfile.TemporaryDirectory(prefix="myo-nodes-") as d:
        for p in people:
            t0 = time.perf_counter()
            r = run_once(PIPELINE, p / "training0", Path(d))
            acc[p.name] = (r["eval_accuracy"], r["eval_settled_accuracy"])
            rt.append(r["source_s"] / r["wall_s"])
            print(f"  {p.name:10s} every {100 * acc[p.name][0]:5.1f}%   settled {100 * acc[p.name][1]:5.1f}%   "
                  f"({time.perf_counter() - t0:.0f} s, {rt[-1]:.0f}x real time)", flush=True)
    mean = [statistics.fmean(a[k] for a in acc.values()) for k in (0, 1)]
    print(f"  {'mean':10s} every {100 * mean[0]:5.1f}%   settled {100 * mean[1]:5.1f}%   "
          f"(median {statistics.median(rt):.0f}x real time end to end)")
    if a.json:
        Path(a.json).write_text(json.dumps({**acc, "mean": mean}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
