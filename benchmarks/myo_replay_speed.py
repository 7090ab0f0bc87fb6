"""How fast deploy/myo_replay.toml replays real EMG through the real nodes over ZeroMQ (issue 10: fast replay
>= 50x real time, 0 drops). `spikestream run` as a user runs it, timed from the outside, twice:

- one person's recordings (calibrate on cycles 1-2, evaluate on 3-4: the file as shipped): end-to-end
  real-time factor, start-up and the drain at the end included;
- the same, with the evaluation set grown by N more people's cycles 3-4 (one longer stream): the extra
  source time over the extra wall time is the streaming rate, start-up and end taken out.

Both runs must end by themselves with every packet through every node and 0 drops anywhere (the report's
counters); a run that did not is an error, not a figure. Each run repeats --repeat times; medians printed,
with the load average during the runs (the machine's other jobs slow the wall-clock figures). Beside them,
each node process's CPU time per second of EMG streamed (read from /proc every 50 ms, Linux only), which
other jobs change far less: the work the pipeline costs, whatever the load.

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


def _node_cpu(root: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of each node process under the `spikestream run` process `root`,
    by node name (Linux /proc; empty elsewhere)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        kids = open(f"/proc/{root}/task/{root}/children").read().split()
    except OSError:
        return out
    for pid in kids:
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"node" in cmd and cmd.index(b"node") + 2 < len(cmd):
            out[cmd[cmd.index(b"node") + 2].decode()] = (int(stat[11]) + int(stat[12])) / tick
    return out


def run_once(pipeline: Path, subject: Path, tmp: Path) -> dict:
    rep = tmp / "report.json"
    rep.unlink(missing_ok=True)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(tmp / "stderr.txt", "w+") as err:
        p = subprocess.Popen([sys.executable, "-m", "spikestream", "--log-level", "WARNING", "run", str(pipeline),
                              "--report", str(rep), "--workdir", str(tmp / "work")], stdout=subprocess.DEVNULL,
                             stderr=err, env={**os.environ, "MYO_SUBJECT": str(subject)}, cwd=ROOT)
        cpu: dict[str, float] = {}
        while p.poll() is None:  # the nodes' CPU time, read until each exits (its last reading kept)
            cpu.update(_node_cpu(p.pid))
            try:
                p.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    if p.returncode != 0 or not rep.exists():
        raise SystemExit(f"the run failed (exit {p.returncode}):\n{stderr[-3000:]}")
    nodes = json.loads(rep.read_text())["nodes"]
    packets = nodes["emg"]["stats"]["msgs_out"]["spikes"]
    through = nodes["output"]["stats"]["msgs_in"]["in"]
    drops = sum(n["stats"]["dropped"] + n["stats"]["send_failed"] for n in nodes.values())
    if through != packets or drops:
        raise SystemExit(f"lost packets: {packets} sent, {through} reached the output, {drops} dropped")
    c = nodes["output"]["stats"]["node_counters"]
    return {"wall_s": wall, "source_s": packets * PACKET_S, "packets": packets, "eval_accuracy": c.get("eval_accuracy"),
            "eval_settled_accuracy": c.get("eval_settled_accuracy"), "cpu_s": cpu,
            "load": (load0 + os.getloadavg()[0]) / 2}


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
    loads = [r["load"] for r in short + long_]
    print(f"over ZeroMQ, the real nodes under `spikestream run` ({os.cpu_count()} CPUs, load {min(loads):.1f}-"
          f"{max(loads):.1f} during the runs); medians of {a.repeat}; 0 drops, every packet through every node")
    print(f"  {people[0].name}: {s_src:.0f} s of EMG in {s_wall:.2f} s wall: {s_src / s_wall:.1f}x end to end "
          f"(start-up and drain included); eval accuracy {short[0]['eval_accuracy']:.3f}")
    print(f"  + {a.more} people's cycles 3-4: {l_src:.0f} s in {l_wall:.2f} s: {l_src / l_wall:.1f}x end to end")
    print(f"  streaming rate (extra source time / extra wall time): {(l_src - s_src) / (l_wall - s_wall):.1f}x "
          f"real time")
    names = sorted(set().union(*(r["cpu_s"] for r in short + long_)))
    if names:  # CPU per second of EMG streamed, start-up taken out the same way: what load does not change much
        per = {n: statistics.median(r["cpu_s"].get(n, 0.0) for r in long_) -
               statistics.median(r["cpu_s"].get(n, 0.0) for r in short) for n in names}
        print("  CPU per second of EMG streamed (extra CPU / extra source time): " +
              ", ".join(f"{n} {1e3 * v / (l_src - s_src):.1f} ms" for n, v in per.items()) +
              f"; all nodes {1e3 * sum(per.values()) / (l_src - s_src):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
