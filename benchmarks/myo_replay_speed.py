"""How fast deploy/myo_replay.toml replays real EMG through the real nodes over ZeroMQ (issue 10: fast replay
>= 50x real time, 0 drops). `spikestream run` as a user runs it, timed from the outside, twice:

- one person's recordings (calibrate on cycles 1-2, evaluate on 3-4: the file as shipped): end-to-end
  real-time factor, start-up and the drain at the end included;
- the same, with the evaluation set grown by N more people's cycles 3-4 (one longer stream): the extra
  source time over the extra wall time is the streaming rate, start-up and end taken out.

Both runs must end by themselves with every packet through every node and 0 drops anywhere (the report's
counters); a run that did not is an error, not a figure. Each run repeats --repeat times; medians printed.

    .venv/bin/python benchmarks/myo_replay_speed.py ../shared/data/myo-armband/PreTrainingDataset [--more 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "deploy" / "myo_replay.toml"
PACKET_S = 0.025  # chunk = 5 samples at 200 Hz


def run_once(pipeline: Path, subject: Path, tmp: Path) -> dict:
    rep = tmp / "report.json"
    rep.unlink(missing_ok=True)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "spikestream", "--log-level", "WARNING", "run", str(pipeline),
                        "--report", str(rep), "--workdir", str(tmp / "work")], capture_output=True, text=True,
                       env={**os.environ, "MYO_SUBJECT": str(subject)}, cwd=ROOT, timeout=3600)
    wall = time.perf_counter() - t0
    if r.returncode != 0 or not rep.exists():
        raise SystemExit(f"the run failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    nodes = json.loads(rep.read_text())["nodes"]
    packets = nodes["emg"]["stats"]["msgs_out"]["spikes"]
    through = nodes["output"]["stats"]["msgs_in"]["in"]
    drops = sum(n["stats"]["dropped"] + n["stats"]["send_failed"] for n in nodes.values())
    if through != packets or drops:
        raise SystemExit(f"lost packets: {packets} sent, {through} reached the output, {drops} dropped")
    c = nodes["output"]["stats"]["node_counters"]
    return {"wall_s": wall, "source_s": packets * PACKET_S, "packets": packets, "eval_accuracy": c.get("eval_accuracy"),
            "eval_settled_accuracy": c.get("eval_settled_accuracy")}


def longer_pipeline(tmp: Path, more: list[Path]) -> Path:
    """The shipped file with the evaluation set grown by other people's cycles 3-4 (the source reads the
    list in order: this person's first, then theirs)."""
    text = PIPELINE.read_text()
    old = 'evaluate = ["${MYO_SUBJECT}/classe_1[4-9].dat", "${MYO_SUBJECT}/classe_2[0-7].dat"]'
    if old not in text:
        raise SystemExit(f"{PIPELINE} no longer has the line this benchmark extends: {old}")
    extra = [f'"{d}/classe_1[4-9].dat", "{d}/classe_2[0-7].dat"' for d in more]
    new = old[:-1] + ", " + ", ".join(extra) + "]"
    p = tmp / "myo_replay_longer.toml"
    p.write_text(text.replace(old, new))
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", help="folder holding PERSON/training0/classe_K.dat")
    ap.add_argument("--more", type=int, default=5, help="people whose cycles 3-4 lengthen the second run")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    people = sorted(p for p in Path(a.dataset).iterdir() if (p / "training0").is_dir())
    if len(people) < a.more + 1:
        raise SystemExit(f"{a.dataset}: need {a.more + 1} person folders, found {len(people)}")
    subject = people[0] / "training0"
    with tempfile.TemporaryDirectory(prefix="myo-speed-") as d:
        tmp = Path(d)
        longer = longer_pipeline(tmp, [p / "training0" for p in people[1:1 + a.more]])
        subprocess.run([sys.executable, "-m", "spikestream", "--log-level", "WARNING", "warmup"], cwd=ROOT,
                       check=True, capture_output=True)
        short, long_ = [], []
        for _ in range(a.repeat):
            short.append(run_once(PIPELINE, subject, tmp))
            long_.append(run_once(longer, subject, tmp))
    s_wall = statistics.median(r["wall_s"] for r in short)
    l_wall = statistics.median(r["wall_s"] for r in long_)
    s_src, l_src = short[0]["source_s"], long_[0]["source_s"]
    print(f"over ZeroMQ, the real nodes under `spikestream run` ({os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}); medians of {a.repeat}; 0 drops, every packet through every node")
    print(f"  {people[0].name}: {s_src:.0f} s of EMG in {s_wall:.2f} s wall: {s_src / s_wall:.1f}x end to end "
          f"(start-up and drain included); eval accuracy {short[0]['eval_accuracy']:.3f}")
    print(f"  + {a.more} people's cycles 3-4: {l_src:.0f} s in {l_wall:.2f} s: {l_src / l_wall:.1f}x end to end")
    print(f"  streaming rate (extra source time / extra wall time): {(l_src - s_src) / (l_wall - s_wall):.1f}x "
          f"real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
