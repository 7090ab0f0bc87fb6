"""`spikestream demo`: the EMG -> delta encoder -> STDP SNN -> decoder + safety pipeline, live.

The demo runs the pipeline file (deploy/demo.toml) under the supervisor, every node its own process,
and listens like an actuator would: it subscribes to the control output and to the source's ground
truth, and measures what a user cares about — end-to-end latency from sensor sample to received control
output, messages per stage, drops, and how well the decoded signal tracks the target after calibration.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime import forkserver
from spikestream.runtime.supervisor import Supervisor

DEFAULT_PIPELINE = Path(str(files("spikestream.pipelines") / "demo.toml"))  # deploy/demo.toml, in any install
PROBE_ROWS = 1 << 20  # bounded: about 17 minutes at 1 kHz
LIVE_ROWS = 10_000  # the live view's figures cover the last 10 s at 1 kHz


class Probe(threading.Thread):
    """An actuator-side listener: control outputs and ground truth, kept in preallocated arrays.

    It runs in its own thread, blocked on its sockets, so each control message is stamped the moment
    it arrives (the latency it reports is what an actuator would see). Given `rt_priority`, that thread
    (only it) runs under SCHED_FIFO where permitted, as an actuator's driver thread would, and so does
    the I/O thread of its own ZeroMQ context, which it starts after taking the priority."""

    def __init__(self, control_ep: str, target_ep: str, n_out: int, n_target: int, rt_priority: int | None = None):
        super().__init__(daemon=True, name="demo-probe")
        self.rt_priority = rt_priority
        self.endpoints = (control_ep, target_ep)
        self._halt = threading.Event()
        self.c_t = np.zeros(PROBE_ROWS, np.int64)
        self.c_v = np.zeros((PROBE_ROWS, n_out))
        self.c_lat = np.zeros(PROBE_ROWS)
        self.c_safe = np.zeros(PROBE_ROWS, bool)
        self.nc = 0
        self.g_t = np.zeros(PROBE_ROWS, np.int64)
        self.g_v = np.zeros((PROBE_ROWS, n_target))
        self.ng = 0
        self.rejected = 0

    def run(self) -> None:
        if self.rt_priority:
            try:  # pid 0: this thread alone
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(self.rt_priority)))
            except (OSError, ValueError):
                pass  # the nodes already said that real-time scheduling is not permitted here
        ctx = zmq.Context()  # its I/O thread inherits this thread's scheduling
        self.ctl = transport.sub(ctx, [self.endpoints[0]])
        self.tgt = transport.sub(ctx, [self.endpoints[1]])
        poller = zmq.Poller()
        poller.register(self.ctl, zmq.POLLIN)
        poller.register(self.tgt, zmq.POLLIN)
        while not self._halt.is_set():
            if poller.poll(50):
                self._drain()
        self._drain()
        self.ctl.close(0)
        self.tgt.close(0)
        ctx.term()

    def _drain(self) -> None:
        while self.nc < PROBE_ROWS and self.ctl.poll(0):
            frame = self.ctl.recv()
            now = time.time_ns()
            try:
                m = P.unpack(frame, kinds=("control",))
            except P.ProtocolError:
                self.rejected += 1
                continue
            i = self.nc
            self.c_t[i], self.c_v[i], self.c_safe[i] = m.t_us, m.body.values, m.body.safe
            self.c_lat[i] = (now - m.origin_ns) * 1e-6
            self.nc += 1
        while self.tgt.poll(0):
            try:
                m = P.unpack(self.tgt.recv(), kinds=("samples",))
            except P.ProtocolError:
                self.rejected += 1
                continue
            n = min(m.body.t_us.size, PROBE_ROWS - self.ng)
            self.g_t[self.ng:self.ng + n] = m.body.t_us[:n]
            self.g_v[self.ng:self.ng + n] = m.body.data[:n]
            self.ng += n

    def latency_ms(self, after_us: int = 0, last: int | None = None) -> dict[str, float]:
        """Latency percentiles of the (non-watchdog) control outputs whose source time is past `after_us`
        (of the `last` ones only, if given: the live view's cost must not grow with the run)."""
        n = self.nc
        k = 0 if last is None else max(0, n - last)
        lat = self.c_lat[k:n][~self.c_safe[k:n] & (self.c_t[k:n] >= after_us)]
        if lat.size == 0:
            return {}
        p50, p99 = np.percentile(lat, [50, 99])
        return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "max": round(float(lat.max()), 3), "n": int(lat.size)}

    def tracking(self, after_us: int, last: int | None = None, before_us: int | None = None) -> list[float]:
        """Pearson correlation per output between decoded control and ground truth, after `after_us`
        (and before `before_us`; over the `last` control outputs only, if given)."""
        n, ng = self.nc, self.ng  # read once: the probe thread keeps appending
        k = 0 if last is None else max(0, n - last)
        ct, cv = self.c_t[k:n], self.c_v[k:n]
        keep = (ct > after_us) & ~self.c_safe[k:n]
        if before_us is not None:
            keep &= ct < before_us
        gt, gv = self.g_t[:ng], self.g_v[:ng]
        if keep.sum() < 10 or gt.size == 0:
            return []
        ct, cv = ct[keep], cv[keep]
        j = np.clip(np.searchsorted(gt, ct, side="right") - 1, 0, gt.size - 1)
        truth = gv[j]
        out = []
        for k in range(min(cv.shape[1], truth.shape[1])):
            a, b = cv[:, k], truth[:, k]
            out.append(round(float(np.corrcoef(a, b)[0, 1]), 3) if a.std() > 0 and b.std() > 0 else 0.0)
        return out

    def close(self) -> None:
        self._halt.set()
        self.join(5)


def _stage_table(sup: Supervisor) -> list[dict[str, Any]]:
    rows = []
    for name in sup.children:
        s = sup.latest_stats.get(name, {})
        rows.append({"node": name, "state": sup.children[name].state, "in": sum(s.get("msgs_in", {}).values()),
                     "out": sum(s.get("msgs_out", {}).values()), "dropped": s.get("dropped", 0),
                     "rejected": s.get("rejected", 0), "errors": s.get("errors", 0),
                     "restarts": sup.children[name].restarts,
                     "lat_in_p50_ms": s.get("latency_in_ms", {}).get("p50"),
                     "cpu": s.get("cpu_busy_frac")})
    return rows


class DemoRun:
    """The demo pipeline under a supervisor, with a probe listening where an actuator would."""

    def __init__(self, pipeline_path: str | None = None, calibrate_s: float | None = None, warmup_s: float = 2.0,
                 calibrate_from_s: float | None = None, **node_settings: Any):
        """`node_settings` apply to every node (e.g. ``rt_priority=50``)."""
        forkserver.prestart()  # its imports run while the pipeline file is read and checked
        self.path = Path(pipeline_path) if pipeline_path else DEFAULT_PIPELINE
        pl = forkserver.load_pipeline(self.path)  # checked by the fork server (pipeline.load if there is none)
        for spec in pl.nodes.values():
            for k, v in node_settings.items():
                setattr(spec, k, v)
        out_node, src = pl.nodes["output"], pl.nodes["emg"]
        for key, value in (("calibrate_s", calibrate_s), ("calibrate_from_s", calibrate_from_s)):
            if value is not None:
                out_node.params[key] = value
        # r is measured from the end of calibration (after `calibrate_from_s` of unsupervised learning); as
        # `CalibrationSchedule.end_us`, not imported here: spikestream.decode imports Numba, which this process avoids
        self.calib_us = int(float(out_node.params.get("calibrate_from_s", 0.0)) * 1e6
                            + float(out_node.params.get("calibrate_s", 10.0)) * 1e6)
        self.warmup_us = int(warmup_s * 1e6)
        self.sup = Supervisor(pl)
        self.sup.log_dir = self.sup.workdir / "logs"
        self.probe = Probe(out_node.outputs["out"], src.outputs["target"],
                           int(out_node.params["decoder"]["n_outputs"]), int(src.params.get("dof", 2)),
                           out_node.rt_priority)

    def outputs_after_calibration(self) -> int:
        p = self.probe
        return int(np.count_nonzero(p.c_t[:p.nc] > self.calib_us))

    def run(self, duration_s: float | None, on_tick=None, until=None) -> dict[str, Any]:
        # the probe thread shares this process's GIL with the supervisor and the live view: let it take the
        # GIL within 0.5 ms of a control message arriving instead of Python's default 5 ms
        switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self.probe.start()
        try:
            report = self.sup.run(duration_s, on_tick=on_tick, tick_s=0.1, until=until)
        finally:
            self.probe.close()
            sys.setswitchinterval(switch)
        stages = _stage_table(self.sup)
        for r in stages:  # the final per-node reports are more complete than the last live stats
            s = report["nodes"][r["node"]]["stats"]
            r.update({"in": sum(s.get("msgs_in", {}).values()), "out": sum(s.get("msgs_out", {}).values()),
                      "dropped": s.get("dropped", 0), "rejected": s.get("rejected", 0), "errors": s.get("errors", 0)})
        p = self.probe
        ok = bool(p.nc) and all(n["state"] != "failed" for n in report["nodes"].values())
        return {"ok": ok, "pipeline": str(self.path), "duration_s": duration_s, "calibrated_at_s": self.calib_us / 1e6,
                "control_messages": p.nc,
                "latency_sensor_to_control_ms": p.latency_ms(self.warmup_us),
                "latency_including_warmup_ms": p.latency_ms(),
                "tracking_correlation": p.tracking(self.calib_us),
                "tracking_first_last": self.tracking_first_last(),
                "stages": stages, "nodes": report["nodes"], "logs": str(self.sup.log_dir)}

    def tracking_first_last(self) -> dict[str, list[float]]:
        """How r moved while the SNN learned: r over the first and the last fifth of the run after
        calibration (each at most 5 minutes)."""
        p = self.probe
        if not p.nc:
            return {}
        end = int(p.c_t[p.nc - 1])
        span = min((end - self.calib_us) // 5, 300_000_000)
        if span <= 0:
            return {}
        return {"first": p.tracking(self.calib_us, before_us=self.calib_us + span),
                "last": p.tracking(end - span)}

    def status_table(self, elapsed_s: float, duration_s: float):
        from rich.table import Table

        t = Table(title=f"spikestream demo — {elapsed_s:5.1f} / {duration_s:.0f} s", expand=False)
        for col in ("node", "state", "in", "out", "dropped", "rejected", "restarts", "lat in p50 ms", "busy"):
            t.add_column(col, justify="right" if col not in ("node", "state") else "left")
        for r in _stage_table(self.sup):
            t.add_row(r["node"], r["state"], str(r["in"]), str(r["out"]), str(r["dropped"]), str(r["rejected"]),
                      str(r["restarts"]), f"{r['lat_in_p50_ms']:.3f}" if r["lat_in_p50_ms"] is not None else "-",
                      f"{100 * r['cpu']:.0f}%" if r["cpu"] is not None else "-")
        lat = self.probe.latency_ms(self.warmup_us, last=LIVE_ROWS)
        corr = self.probe.tracking(self.calib_us, last=LIVE_ROWS)
        t.caption = (f"last {LIVE_ROWS // 1000} s: sensor->control latency p50 {lat.get('p50', '-')} ms  "
                     f"p99 {lat.get('p99', '-')} ms  |  tracking r after calibration: {corr or 'calibrating'}")
        return t


def run_demo(pipeline_path: str | None, duration_s: float, calibrate_s: float | None = None,
             calibrate_from_s: float | None = None) -> dict[str, Any]:
    from rich.console import Console
    from rich.live import Live

    demo = DemoRun(pipeline_path, calibrate_s, calibrate_from_s=calibrate_from_s)
    console = Console(stderr=True)
    t0 = time.monotonic()
    shown = [0.0]

    def show(_) -> None:  # twice a second: the view must not take the CPU the pipeline runs on
        if time.monotonic() - shown[0] >= 0.5:
            shown[0] = time.monotonic()
            live.update(demo.status_table(shown[0] - t0, duration_s))

    with Live(demo.status_table(0, duration_s), console=console, refresh_per_second=2) as live:
        summary = demo.run(duration_s, on_tick=show)
        live.update(demo.status_table(time.monotonic() - t0, duration_s))
    if not console.is_terminal:  # a log or a pipe gets the last table without a final newline
        console.line()
    lat = summary["latency_sensor_to_control_ms"]
    console.print(f"[bold]summary[/bold]: {summary['control_messages']} control outputs; sensor->control latency "
                  f"(after {demo.warmup_us / 1e6:.0f} s warm-up) p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms; "
                  f"drops {sum(r['dropped'] for r in summary['stages'])}; tracking correlation after calibration "
                  f"{summary['tracking_correlation']} (first fifth {summary['tracking_first_last'].get('first')}, last "
                  f"fifth {summary['tracking_first_last'].get('last')}, while the SNN learns); node logs in {summary['logs']}")
    return summary
