"""Source nodes: synthetic EMG and IMU, file replay (paced), LSL and serial (live).

**Paced** sources (synthetic, file) never sleep: `poll(now_ns)` emits every chunk whose last row is due
by ``now_ns`` (row k is due ``(t_k - t_0) / speed`` after the first poll) and `wake_at_ns` names the next
due time; ``pace = "fast"`` emits ``fast_msgs_per_poll`` chunks per poll instead. A message's ``origin_ns``
is the wall time its oldest row was due (its acquisition time). A synthetic source that falls more than
``max_lag_s`` behind (a stalled loop) drops the stale rows and counts them in ``dropped_samples``.

**Live** sources (LSL, serial) are drained on each poll with non-blocking reads; their ``origin_ns`` is
the acquisition time the source reports, and their counters (gaps, missing and rejected samples,
stalls, reconnects) are copied into the node's stats.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import numpy as np

from spikestream.protocol import Samples
from spikestream.nodes.encoder import InlineEncoder
from spikestream.runtime.node import Node, register_node
from spikestream.sources.files import FileSource
from spikestream.sources.imu import IMUSynth
from spikestream.sources.synthetic import EMGSynth


def _param(params: dict, key: str, default, conv, check=None, text: str = ""):
    v = params.get(key, default)
    try:
        v = conv(v)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {key!r}: cannot use {v!r}") from None
    if check is not None and not check(v):
        raise ValueError(f"parameter {key!r} = {v!r}: {text}")
    return v


def _bool(v) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError(v)


class InputNode(Node):
    """What every input node shares: samples out, and with an ``encoder = {...}`` table (the encoder
    node's parameters) also the encoded spike packets on "spikes" — read and encode in one process."""

    outputs = {"samples": "samples", "spikes": "spikes"}
    optional = frozenset({"samples", "spikes"})

    def _setup_encoder(self) -> None:
        enc = self.params.get("encoder")
        self._encode = None if enc is None else InlineEncoder(self, enc)

    def _publish(self, body: Samples, t_last: int, origin_ns: int) -> None:
        self.emit("samples", body, t_last, origin_ns)
        if self._encode is not None:
            self._encode(body, t_last, origin_ns)

    def _encoder_state(self) -> dict[str, np.ndarray]:
        if self._encode is None:
            return {}
        return {f"encoder/{k}": v for k, v in self._encode.node.get_state().items()}

    def _set_encoder_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Restore the encoder's part of `state`; return the rest."""
        mine = {k[len("encoder/"):]: v for k, v in state.items() if k.startswith("encoder/")}
        if self._encode is not None and mine:
            self._encode.node.set_state(mine)
        return {k: v for k, v in state.items() if not k.startswith("encoder/")}


class PacedSourceNode(InputNode):
    """Pacing for sources with ``read(n)``, ``skip(n)``, ``position``, ``time_us(k)``, ``rows_until(t)``,
    ``total`` (None = endless), ``rate_hz``, ``channels``, ``get_state``/``set_state``."""

    default_max_lag_s: float | None = None  # None: never drop (a recording)

    def _make_source(self):
        raise NotImplementedError

    def setup(self) -> None:
        p = self.params
        self.chunk = _param(p, "chunk", 10, int, lambda v: v >= 1, "must be >= 1")
        self.pace = _param(p, "pace", "realtime", str, lambda v: v in ("realtime", "fast"), "must be 'realtime' or 'fast'")
        self.speed = _param(p, "speed", 1.0, float, lambda v: v > 0 and math.isfinite(v), "must be > 0")
        lag = p.get("max_lag_s", self.default_max_lag_s)
        self.max_lag_s = None if lag is None else _param(p, "max_lag_s", lag, float, lambda v: v > 0, "must be > 0")
        self.fast_msgs = _param(p, "fast_msgs_per_poll", 64, int, lambda v: v >= 1, "must be >= 1")
        self.max_msgs = _param(p, "max_msgs_per_poll", 1000, int, lambda v: v >= 1, "must be >= 1")
        self.truth = _param(p, "truth", True, _bool)
        # ground truth is a side channel (calibration, evaluation), not on the control path: it may travel
        # in fewer, larger messages than the samples
        self.truth_chunk = _param(p, "truth_chunk", self.chunk, int, lambda v: v >= 1, "must be >= 1")
        self._truth_q: list = []
        self._truth_rows = 0
        self._truth_origin = 0
        self.src = self._make_source()
        self.rate = float(self.src.rate_hz)
        self.limit = self.src.total
        dur = p.get("duration_s")
        if dur is not None:
            dur = _param(p, "duration_s", dur, float, lambda v: v > 0, "must be > 0")
            n = self.src.rows_until(int(self.src.time_us(0)) + int(dur * 1e6) - 1)
            self.limit = n if self.limit is None else min(n, self.limit)
        self._t0 = int(self.src.time_us(0))
        self._start_ns: int | None = None
        self._progress = None
        self._setup_encoder()

    # ------------------------------------------------------------------ runtime callbacks
    def poll(self, now_ns: int) -> None:
        if self.finished:
            self._end_progress()
            return
        if self.pace == "fast":
            for _ in range(self.fast_msgs):
                if not self._emit_chunk(self._take(self.chunk), now_ns):
                    break
            self._show_progress()
            return
        if self._start_ns is None:  # row `position` is due now (0 at start, later after set_state)
            self._start_ns = int(now_ns) - self._ns_after_t0(self.src.time_us(self.src.position))
        t_now = self._t0 + int((now_ns - self._start_ns) * self.speed / 1000)
        due = self.src.rows_until(t_now)
        if self.limit is not None:
            due = min(due, self.limit)
        if self.max_lag_s is not None:
            max_lag = max(self.chunk, int(self.max_lag_s * self.rate))
            lag = due - self.src.position
            if lag > max_lag:  # the loop stalled: drop stale rows, say so, keep the time base
                drop = lag - max_lag
                drop -= drop % self.chunk
                self.src.skip(drop)
                self.count("dropped_samples", drop)
                self.log.warning("%s: loop fell %.3f s behind; dropped %d stale samples", self.name, lag / self.rate, drop)
        at_end = self.limit is not None and due >= self.limit
        for _ in range(self.max_msgs):
            k0 = self.src.position
            if not (k0 + self.chunk <= due or (at_end and k0 < due)):
                break
            self._emit_chunk(self._take(min(self.chunk, due - k0)), self._start_ns + self._ns_after_t0(self.src.time_us(k0)))

    def wake_at_ns(self) -> int | None:
        if self.finished:
            return None
        if self.pace == "fast":
            return 0
        if self._start_ns is None:
            return None
        last = self.src.position + self.chunk - 1
        if self.limit is not None:
            last = min(last, self.limit - 1)
        return self._start_ns + self._ns_after_t0(self.src.time_us(last))

    @property
    def finished(self) -> bool:
        return self.limit is not None and self.src.position >= self.limit

    def get_state(self) -> dict[str, np.ndarray]:
        return {**self.src.get_state(), **self._encoder_state()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.src.set_state(self._set_encoder_state(state))
        self._start_ns = None  # pacing restarts from the restored row
        self._truth_q, self._truth_rows = [], 0

    def close(self) -> None:
        self._flush_truth()
        self._end_progress()

    # ------------------------------------------------------------------ helpers
    def _ns_after_t0(self, t_us) -> int:
        return int(math.ceil((int(t_us) - self._t0) * 1000 / self.speed))

    def _take(self, n: int):
        if self.limit is not None:
            n = min(n, self.limit - self.src.position)
        return self.src.read(max(n, 0))

    def _emit_chunk(self, c, origin_ns: int) -> bool:
        if c.t_us.size == 0:
            return False
        t_last = int(c.t_us[-1])
        self._publish(Samples(c.t_us, c.data, self.rate, self.src.channels), t_last, origin_ns)
        if self.truth:
            self._queue_truth(c, origin_ns)
        self.count("samples_out", int(c.t_us.size))
        return True

    def _queue_truth(self, c, origin_ns: int) -> None:
        """Send the ground truth of the queued chunks once ``truth_chunk`` rows are waiting (or at the end)."""
        if not self._truth_q:
            self._truth_origin = origin_ns
        self._truth_q.append(c)
        self._truth_rows += c.t_us.size
        if self._truth_rows >= self.truth_chunk or self.finished:
            self._flush_truth()

    def _flush_truth(self) -> None:
        q, self._truth_q, self._truth_rows = self._truth_q, [], 0
        if not q:
            return
        c = q[0] if len(q) == 1 else type(q[0])(**{f.name: np.concatenate([getattr(x, f.name) for x in q])
                                                    for f in dataclasses.fields(q[0])})
        self._emit_truth(c, int(c.t_us[-1]), self._truth_origin)

    def _emit_truth(self, c, t_last: int, origin_ns: int) -> None:
        pass

    def _show_progress(self) -> None:
        want = self.params.get("progress", "auto")
        if self.limit is None or want is False or (want == "auto" and not sys.stderr.isatty()):
            return
        if self._progress is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn(f"{self.name}"), BarColumn(), TextColumn("{task.completed}/{task.total} rows"),
                                      TimeRemainingColumn(), transient=False)
            self._task = self._progress.add_task("replay", total=self.limit)
            self._progress.start()
        self._progress.update(self._task, completed=self.src.position)

    def _end_progress(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.src.position)
            self._progress.stop()
            self._progress = None


@register_node("emg_synth")
class EMGSynthNode(PacedSourceNode):
    """Synthetic EMG. Params: channels=8, rate_hz=1000, dof=2, seed=0, gestures=4, chunk=10,
    pace="realtime"|"fast", duration_s (optional: a finite stream), truth=true, truth_chunk=chunk (rows per
    ground-truth message), max_lag_s=0.5.
    Outputs: samples; target (dof columns in [0, 1]) and gesture (one column, the label) are optional."""

    outputs = {**InputNode.outputs, "target": "samples", "gesture": "samples"}
    optional = InputNode.optional | {"target", "gesture"}
    default_max_lag_s = 0.5

    def _make_source(self):
        p = self.params
        src = EMGSynth(n_channels=_param(p, "channels", 8, int), rate_hz=_param(p, "rate_hz", 1000.0, float),
                       n_dof=_param(p, "dof", 2, int), seed=_param(p, "seed", 0, int),
                       n_gestures=_param(p, "gestures", 4, int))
        self.truth_names = [f"dof{d}" for d in range(src.n_dof)]
        return src

    def _emit_truth(self, c, t_last, origin_ns):
        self.emit("target", Samples(c.t_us, c.target, self.rate, self.truth_names), t_last, origin_ns)
        self.emit("gesture", Samples(c.t_us, c.gesture.astype(np.float32)[:, None], self.rate, ["gesture"]),
                  t_last, origin_ns)


@register_node("imu_synth")
class IMUSynthNode(PacedSourceNode):
    """Synthetic 6-axis IMU. Params: rate_hz=200, seed=0, motion_hz=0.5, rate_dps=60, chunk=10, pace,
    duration_s, truth=true. Outputs: samples (ax ay az in g, gx gy gz in deg/s); target (roll, pitch,
    yaw in rad) optional."""

    outputs = {**InputNode.outputs, "target": "samples"}
    optional = InputNode.optional | {"target"}
    default_max_lag_s = 0.5

    def _make_source(self):
        p = self.params
        return IMUSynth(rate_hz=_param(p, "rate_hz", 200.0, float), seed=_param(p, "seed", 0, int),
                        motion_hz=_param(p, "motion_hz", 0.5, float), rate_dps=_param(p, "rate_dps", 60.0, float))

    def _emit_truth(self, c, t_last, origin_ns):
        self.emit("target", Samples(c.t_us, c.euler, self.rate, self.src.truth_names), t_last, origin_ns)


@register_node("file_source")
class FileSourceNode(PacedSourceNode):
    """Replay a CSV/WAV/NPY/NPZ/XDF or raw-binary recording. Params: path, stream (an XDF file's stream
    name; default: its only "samples" stream), rate_hz (if the file has no times),
    time_column, time_unit="us", columns, dtype + channels (raw binary; channels is also the width any file
    must have), scale=1, offset=0 (raw), speed=1.0, pace="realtime"|"fast", chunk=10, progress="auto"|true|false
    (a rich progress bar on stderr when replaying fast). Finished at the end of the file."""

    def _make_source(self):
        p = self.params
        if "path" not in p:
            raise ValueError("file_source needs a 'path'")
        rate = p.get("rate_hz")
        src = FileSource(str(p["path"]), rate_hz=None if rate is None else float(rate), time_column=p.get("time_column"),
                         time_unit=str(p.get("time_unit", "us")), columns=p.get("columns"), dtype=p.get("dtype"),
                         channels=p.get("channels"), scale=_param(p, "scale", 1.0, float),
                         offset=_param(p, "offset", 0.0, float), log=self.log, stream=p.get("stream"))
        self.counters.update(src.stats)
        return src


_LABELLED = ("calibrate", "evaluate", "rate_hz", "channels", "dtype", "scale", "offset", "time_column", "time_unit",
             "columns", "label", "labels", "label_column", "side_file", "label_map", "gap_s", "bad_files")
_PACING = ("chunk", "pace", "speed", "max_lag_s", "fast_msgs_per_poll", "max_msgs_per_poll", "truth", "duration_s",
           "progress", "encoder")


@register_node("labelled_replay")
class LabelledReplayNode(PacedSourceNode):
    """Replay recordings with their labels or targets in lockstep (`spikestream.sources.labelled`).
    Params: calibrate / evaluate (paths or globs, ``$VAR`` expanded), rate_hz, channels, dtype, scale, offset,
    time_column, time_unit, columns, one of label (regex on the file name) / labels / label_column /
    side_file, label_map ("mod N" or a table), gap_s=0, bad_files="error"|"skip", and the pacing ones
    (chunk, pace, speed, fast_msgs_per_poll, duration_s, progress, encoder).
    Outputs: samples and/or spikes; target = rows ``[label(s)..., phase]`` (phase 1 calibration, 0 evaluation)
    with the same times as the samples, each chunk's target sent just before its samples. Finished after
    the last file."""

    outputs = {**InputNode.outputs, "target": "samples"}
    optional = InputNode.optional | {"target"}

    def _make_source(self):
        from spikestream.sources.labelled import LabelledReplay

        p = self.params
        unknown = sorted(set(p) - set(_LABELLED) - set(_PACING))
        if unknown:
            raise ValueError(f"labelled_replay: unknown parameter(s) {unknown}; known: {sorted(_LABELLED + _PACING)}")
        kw = {k: p[k] for k in _LABELLED if k in p}
        for k in ("rate_hz", "scale", "offset", "gap_s"):
            if k in kw:
                kw[k] = _param(p, k, None, float)
        src = LabelledReplay(**kw, log=self.log)
        self.counters.update(src.stats)
        self._file = -1
        self.log.info("%s: %d file(s), %d row(s) (%d calibration, %d evaluation) at %g Hz, %d channel(s)", self.name,
                      len(src.files), src.total, src.calibration_rows, src.total - src.calibration_rows, src.rate_hz,
                      src.n_channels)
        return src

    def _emit_chunk(self, c, origin_ns: int) -> bool:
        if c.t_us.size == 0:
            return False
        t_last = int(c.t_us[-1])
        f = self.src.file_index(self.src.position - 1)
        if f != self._file:  # say which recording plays (a chunk may span a boundary: name the last one)
            self._file = f
            self.log.info("%s: playing %s (%s) from t=%d us", self.name, self.src.files[f].name,
                          "calibration" if self.src.phases[f] == 1.0 else "evaluation",
                          int(self.src.t_us[self.src.starts[f]]))
        if self.truth:  # the target first: a consumer has it before the samples (or spikes) of the same rows
            self.emit("target", Samples(c.t_us, c.target, self.rate, self.src.target_names), t_last, origin_ns)
        self._publish(Samples(c.t_us, c.data, self.rate, self.src.channels), t_last, origin_ns)
        self.count("samples_out", int(c.t_us.size))
        return True


class LiveSourceNode(InputNode):
    """Drain a non-blocking live source on every poll; ``poll_interval_us`` sets the wake-up hint."""

    def _make_source(self):
        raise NotImplementedError

    def setup(self) -> None:
        self.max_rows = _param(self.params, "max_rows_per_poll", 100_000, int, lambda v: v >= 1, "must be >= 1")
        self.poll_ns = 1000 * _param(self.params, "poll_interval_us", 500, int, lambda v: v >= 1, "must be >= 1")
        self.src = self._make_source()
        self._setup_encoder()

    def poll(self, now_ns: int) -> None:
        got = 0
        while got < self.max_rows:
            c = self.src.read(min(4096, self.max_rows - got))
            n = c.t_us.size
            if n == 0:
                break
            got += n
            self._publish(Samples(c.t_us, c.data, self.src.rate_hz, self.src.channels), int(c.t_us[-1]), c.origin_ns)
        self.counters.update(self.src.stats)

    def wake_at_ns(self) -> int | None:
        return time.time_ns() + self.poll_ns

    def close(self) -> None:
        self.src.close()


@register_node("lsl_source")
class LSLSourceNode(LiveSourceNode):
    """An LSL inlet. Params: name / type / source_id (at least one), channels (expected count, optional),
    clocksync=true, dejitter=false, stale_s=1.0, buffer_s=10, poll_interval_us=500."""

    def _make_source(self):
        from spikestream.sources.lsl import LSLSource

        p = self.params
        keys = ("name", "type", "source_id", "channels", "clocksync", "dejitter", "stale_s", "buffer_s", "max_samples")
        return LSLSource(**{k: p[k] for k in keys if k in p}, log=self.log)


@register_node("serial_source")
class SerialSourceNode(LiveSourceNode):
    """A serial port. Params: port, channels, rate_hz, baudrate=115200, format="csv"|"binary",
    timestamps="device"|"counter", queue_rows=100000, reconnect_s=0.5 (see docs/sources.md)."""

    def _make_source(self):
        from spikestream.sources.serial_port import SerialSource

        p = self.params
        if "port" not in p or "channels" not in p:
            raise ValueError("serial_source needs 'port' and 'channels'")
        keys = ("port", "channels", "rate_hz", "baudrate", "format", "timestamps", "queue_rows", "reconnect_s")
        return SerialSource(**{k: p[k] for k in keys if k in p}, log=self.log)
