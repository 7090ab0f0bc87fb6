"""Warm start to first control output (issue 13's target: < 2 s): `spikestream run` on the demo pipeline, its
kernels already in Numba's cache, timed from the command's launch to the first control message an actuator
would receive, with where each node's start-up went.

    .venv/bin/python benchmarks/start_time.py [--runs 5] [--pipeline deploy/demo.toml] [--compare]

With --compare, runs alternate with runs whose nodes start as programs of their own (SPIKESTREAM_FORKSERVER=0,
as before the fork server, runtime/forkserver.py), and both medians are printed: a baseline under the same load.

Each run launches ``python -m spikestream run COPY --no-view`` (the path `spikestream demo` and a systemd unit
take: the supervisor and one process per node); COPY is the pipeline with a fixed port on the output node's
control output, where this script listens (a SUB socket connected before the launch). It prints, per run and
as medians: the time to the first control message (``first``; while the decoder calibrates it sends zeros)
and to the first one decoded from the source's data past the output's warm-up (``first data``: the source's
time is > 0), then SIGINTs the run and reads each node's report: its start-up phases (runtime/start.py:
process = fork to the runtime's start, i.e. interpreter and imports; setup; warm = kernels loaded; sockets;
wait = for subscribers), wall and CPU seconds; the fork server's imports, its check of the pipeline file (done
for the supervisor, which imports no kernel library) and its node kinds' imports; the supervisor's own CPU
seconds up to the nodes' start (from its log lines). CPU moves less with load; the load average is printed beside
each run because the machine this runs on is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime.demo import DEFAULT_PIPELINE


def _copy_with_probe_port(src: Path, dst: Path, node: str, port: str) -> str:
    """The pipeline at `dst`, with `node`'s output `port` on a fixed free port (returned)."""
    ep = f"tcp://127.0.0.1:{transport.free_tcp_port()}"
    text = src.read_text()
    head = text.index(f"[nodes.{node}]")
    m = re.compile(rf"^outputs = \{{ {port} = \"[^\"]+\"", re.M).search(text, head)
    if m is None:
        raise SystemExit(f"{src}: no `outputs = {{ {port} = ... }}` line in [nodes.{node}]")
    dst.write_text(text[:m.start()] + f'outputs = {{ {port} = "{ep}"' + text[m.end():])
    return ep


def one_run(path: Path, endpoint: str, work: Path, timeout_s: float, env: dict[str, str]) -> dict:
    ctx = zmq.Context.instance()
    sub = transport.sub(ctx, [endpoint])
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "spikestream", "run", str(path), "--no-view", "--workdir", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    first = first_data = None
    try:
        while first_data is None and time.monotonic() - t0 < timeout_s and proc.poll() is None:
            if not sub.poll(50):
                continue
            m = P.unpack(sub.recv(), kinds=("control",))
            now = time.monotonic() - t0
            first = first if first is not None else now
            if not m.body.safe and m.t_us > 0:
                first_data = now
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        sub.close(0)
    if first_data is None:
        raise SystemExit(f"no control output within {timeout_s} s; the run said:\n{err[-3000:]}")
    phases = {}
    for f in sorted(work.glob("*.report.json")):
        phases[f.name.split(".")[0]] = json.loads(f.read_text()).get("startup", {})
    sup = re.search(r"starting \d+ nodes? ([\d.]+) s after the supervisor's process began(?: \(its CPU: ([\d.]+) s\))?",
                    err)
    fs = re.search(r"fork server ready: its imports took ([\d.]+) s \(CPU ([\d.]+)\)(?:, the pipeline's check ([\d.]+) s "
                   r"\(CPU ([\d.]+)\))?, the node kinds' ([\d.]+) s \(CPU ([\d.]+)\)", err)
    if fs:
        g = [None if x is None else float(x) for x in fs.groups()]
        phases["(fork server)"] = {"imports": g[0:2], **({"check": g[2:4]} if g[2] is not None else {}),
                                   "kinds": g[4:6]}
    return {"first_s": first, "first_data_s": first_data, "load": load, "phases": phases,
            "supervisor_s": float(sup.group(1)) if sup else None,
            "supervisor_cpu_s": float(sup.group(2)) if sup and sup.group(2) else None}


def _summary(label: str, rows: list[dict]) -> None:
    med = statistics.median
    print(f"\n{label}: median of {len(rows)} runs: first control output {med(r['first_s'] for r in rows):.2f} s, first "
          f"from data {med(r['first_data_s'] for r in rows):.2f} s after the launch (supervisor spawned the nodes at "
          f"{med(r['supervisor_s'] or 0 for r in rows):.2f} s, having used {med(r['supervisor_cpu_s'] or 0 for r in rows):.2f} "
          f"CPU-s itself); load average {med(r['load'] for r in rows):.2f} "
          f"({os.cpu_count()} CPUs)")
    for n in sorted({n for r in rows for n in r["phases"]}):
        keys = list(next(r["phases"][n] for r in rows if n in r["phases"]))
        print(f"  {n:8s} " + "  ".join(
            f"{k} {med(r['phases'][n][k][0] for r in rows if k in r['phases'].get(n, {})):.2f} s "
            f"(CPU {med(r['phases'][n][k][1] for r in rows if k in r['phases'].get(n, {})):.2f})" for k in keys))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pipeline", default=str(DEFAULT_PIPELINE))
    ap.add_argument("--node", default="output", help="the node whose control output is timed")
    ap.add_argument("--port", default="out")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--compare", action="store_true", help="alternate with runs without the fork server")
    a = ap.parse_args()
    modes = {"fork server": dict(os.environ)}
    if a.compare:
        modes["one program per node"] = {**os.environ, "SPIKESTREAM_FORKSERVER": "0"}
    rows: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="start-time-") as tmp:
        path = Path(tmp) / "pipeline.toml"
        ep = _copy_with_probe_port(Path(a.pipeline), path, a.node, a.port)
        one_run(path, ep, Path(tmp) / "w0", a.timeout, dict(os.environ))  # not counted: fills a cold Numba cache
        for i in range(a.runs):
            for mode, env in modes.items():
                r = one_run(path, ep, Path(tmp) / f"w{i + 1}-{len(rows[mode])}-{mode[0]}", a.timeout, env)
                rows[mode].append(r)
                ph = "  ".join(f"{n}: " + " ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in p.items())
                               for n, p in r["phases"].items())
                print(f"run {i + 1} ({mode}): first {r['first_s']:.2f} s, first data {r['first_data_s']:.2f} s (load "
                      f"{r['load']:.2f}; nodes spawned at {r['supervisor_s']} s, supervisor CPU {r['supervisor_cpu_s']} s) | wall/CPU s: {ph}", flush=True)
    for mode, rs in rows.items():
        _summary(mode, rs)
    if sys.flags.dont_write_bytecode:
        print("\n(PYTHONDONTWRITEBYTECODE is set: every module without a current .pyc is compiled again at each start, "
              "in every process that imports it)")


if __name__ == "__main__":
    main()
