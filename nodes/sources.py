"""Source nodes: synthetic EMG and IMU, file and labelled replay (paced); the live ones (LSL, serial) are in
`live_sources.py`.

**Paced** sources (synthetic, file) never sleep: `poll(now_ns)` emits every chunk whose last row is due
by ``now_ns`` (row k is due ``(t_k - t_0) / speed`` after the first poll; `spikestream.sources.pacing.Pacer`)
and `wake_at_ns` names the next due time; ``pace = "fast"`` (the same as ``speed = 0`` or ``"fast"``, as on
the event nodes) emits ``fast_msgs_per_poll`` chunks per poll instead. A message's ``origin_ns`` is the wall
time its oldest row was due (its acquisition time). A synthetic source that falls more than ``max_lag_s``
behind (a stalled loop) drops the stale rows and counts them in ``dropped_samples``.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from spikestream.params import REQUIRED, Param, Params, node_params
from spikestream.protocol import Samples
from spikestream.nodes.encoder import EncoderNode, InlineEncoder
from spikestream.runtime.node import Node, register_node
from spikestream.sources.files import FileSource
from spikestream.sources.imu import IMUSynth
from spikestream.sources.pacing import PACE, SPEED, Pacer, pacing_speed
from spikestream.sources.synthetic import EMGSynth


#: What every input node takes.
INPUT_PARAMS = Params(
    Param("encoder", dict, None, fields=EncoderNode.PARAMS,
          doc="the encoder node's parameters: also send the encoded spikes on `spikes` (read and encode in one process)"),
)
#: The pacing of a replaying source (PacedSourceNode).
PACING = INPUT_PARAMS + Params(
    Param("chunk", int, 10, unit="rows", lo=1, doc="rows per samples message"),
    PACE,
    SPEED,
    Param("max_lag_s", float, None, unit="s", lo=0, lo_open=True,
          doc="a source further behind drops the stale rows (counted as dropped_samples); none: never drops"),
    Param("fast_msgs_per_poll", int, 64, lo=1, doc='messages per poll with pace = "fast"'),
    Param("max_msgs_per_poll", int, 1000, lo=1, doc="bound on messages per poll when catching up"),
    Param("truth", bool, True, doc="send the ground truth on the optional truth ports"),
    Param("truth_chunk", int, None, unit="rows", lo=1, doc="rows per ground-truth message (default: chunk)"),
    Param("duration_s", float, None, unit="s", lo=0, lo_open=True, doc="a finite stream: stop after this much source time"),
    Param("progress", (str, bool), "auto", choices=("auto", True, False),
          doc="a progress bar on stderr when replaying fast (auto: on a terminal)"),
)
#: A synthetic source's pacing: it drops rows after a stall of more than 0.5 s.
SYNTH_PACING = PACING + [dataclasses.replace(PACING["max_lag_s"], default=0.5)]
#: Reading a recording: what FileSource and LabelledReplay share.
RECORDING = Params(
    Param("rate_hz", float, None, unit="Hz", lo=0, lo_open=True, doc="the sample rate, if the file has no times"),
    Param("time_column", (str, int), None, doc="the column holding the times"),
    Param("time_unit", str, "us", doc="unit of the time column"),
    Param("columns", list, None, doc="the columns to use (names or numbers)"),
    Param("dtype", str, None, doc='raw binary: the sample type, e.g. "<i2"'),
    Param("channels", int, None, lo=1, doc="raw binary: the channel count; any file: the width it must have"),
    Param("scale", float, 1.0, doc="raw binary: value = raw * scale + offset"),
    Param("offset", float, 0.0, doc="raw binary: value = raw * scale + offset"),
)



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

    def warm(self) -> None:
        """The inline encoder's kernels, on rows as a live source hands them (float32 and writable, unlike the
        wire's read-only arrays: Numba compiles a kernel for each), of its channel count or, not known yet, of
        one channel and two."""
        if self._encode is None:
            return
        from spikestream.runtime.warm import samples

        n = len(getattr(getattr(self, "src", None), "channels", None) or [])
        for c in [n] if n else [1, 2]:
            self._encode.node.warm([samples(10, c, 10_000 * k, 1000.0, seed=k) for k in range(2)])

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

    PARAMS = PACING  # max_lag_s none: never drop (a recording)

    def _make_source(self):
        raise NotImplementedError

    def setup(self) -> None:
        p = self.p = node_params(self)
        self.chunk, self.pacer = p["chunk"], Pacer(pacing_speed(p), p["max_lag_s"])
        self.fast_msgs, self.max_msgs, self.truth = p["fast_msgs_per_poll"], p["max_msgs_per_poll"], p["truth"]
        # ground truth is a side channel (calibration, evaluation), not on the control path: it may travel
        # in fewer, larger messages than the samples
        self.truth_chunk = p.get("truth_chunk") or self.chunk
        self._truth_q: list = []
        self._truth_rows = 0
        self._truth_origin = 0
        self.src = self._make_source()
        self.rate = float(self.src.rate_hz)
        self.limit = self.src.total
        dur = p["duration_s"]
        if dur is not None:
            n = self.src.rows_until(int(self.src.time_us(0)) + int(dur * 1e6) - 1)
            self.limit = n if self.limit is None else min(n, self.limit)
        self._t0 = int(self.src.time_us(0))
        self._progress = None
        self._setup_encoder()

    def warm(self) -> None:
        """Read two chunks from a scratch copy of the source (its generator's kernels; the real one does not
        move) and, with an inline encoder, encode them on a scratch encoder: the rows and dtypes it will see."""
        import copy

        from spikestream.sources.files import ArrayReplay

        # a replay's only state is its position (a shallow copy shares the rows it holds, never moves them)
        src = copy.copy(self.src) if isinstance(self.src, ArrayReplay) else copy.deepcopy(self.src)
        chunks = [src.read(self.chunk) for _ in range(2)]
        bodies = [Samples(c.t_us, c.data, self.rate, self.src.channels) for c in chunks if c.t_us.size]
        if self._encode is not None and bodies:
            self._encode.node.warm(bodies)

    # ------------------------------------------------------------------ runtime callbacks
    def poll(self, now_ns: int) -> None:
        if self.finished:
            self._end_progress()
            return
        pacer = self.pacer
        if pacer.fast:
            for _ in range(self.fast_msgs):
                if not self._emit_chunk(self._take(self.chunk), now_ns):
                    break
            self._show_progress()
            return
        if not pacer.anchored:  # row `position` is due now (0 at start, later after set_state)
            pacer.anchor(now_ns, self.src.time_us(self.src.position), t0_us=self._t0)
        due = self.src.rows_until(pacer.source_us(now_ns))
        if self.limit is not None:
            due = min(due, self.limit)
        lag = due - self.src.position
        drop = pacer.rows_to_drop(lag, self.rate, self.chunk)
        if drop:  # the loop stalled: drop stale rows, say so, keep the time base
            self.src.skip(drop)
            self.count("dropped_samples", drop)
            self.log.warning("%s: loop fell %.3f s behind; dropped %d stale samples", self.name, lag / self.rate, drop)
        at_end = self.limit is not None and due >= self.limit
        for _ in range(self.max_msgs):
            k0 = self.src.position
            if not (k0 + self.chunk <= due or (at_end and k0 < due)):
                break
            self._emit_chunk(self._take(min(self.chunk, due - k0)), pacer.due_ns(self.src.time_us(k0)))

    def wake_at_ns(self) -> int | None:
        if self.finished:
            return None
        if self.pacer.fast:
            return 0
        if not self.pacer.anchored:
            return None
        last = self.src.position + self.chunk - 1
        if self.limit is not None:
            last = min(last, self.limit - 1)
        return self.pacer.due_ns(self.src.time_us(last))

    @property
    def finished(self) -> bool:
        return self.limit is not None and self.src.position >= self.limit

    def get_state(self) -> dict[str, np.ndarray]:
        return {**self.src.get_state(), **self._encoder_state()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.src.set_state(self._set_encoder_state(state))
        self.pacer.reset()  # pacing restarts from the restored row
        self._truth_q, self._truth_rows = [], 0

    def close(self) -> None:
        self._flush_truth()
        self._end_progress()

    # ------------------------------------------------------------------ helpers
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
        want = self.p["progress"]
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
    PARAMS = SYNTH_PACING + Params(
        Param("channels", int, 8, lo=1, doc="EMG channels"),
        Param("rate_hz", float, 1000.0, unit="Hz", lo=0, lo_open=True, doc="sample rate"),
        Param("dof", int, 2, lo=1, doc="degrees of freedom of the movement (target columns)"),
        Param("seed", int, 0, doc="random seed"),
        Param("gestures", int, 4, lo=1, doc="gesture classes"),
    )

    def _make_source(self):
        p = self.p
        src = EMGSynth(n_channels=p["channels"], rate_hz=p["rate_hz"], n_dof=p["dof"], seed=p["seed"],
                       n_gestures=p["gestures"])
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
    PARAMS = SYNTH_PACING + Params(
        Param("rate_hz", float, 200.0, unit="Hz", lo=0, lo_open=True, doc="sample rate"),
        Param("seed", int, 0, doc="random seed"),
        Param("motion_hz", float, 0.5, unit="Hz", lo=0, lo_open=True, doc="how fast the simulated motion changes"),
        Param("rate_dps", float, 60.0, unit="deg/s", lo=0, doc="typical angular rate"),
    )

    def _make_source(self):
        p = self.p
        return IMUSynth(rate_hz=p["rate_hz"], seed=p["seed"], motion_hz=p["motion_hz"], rate_dps=p["rate_dps"])

    def _emit_truth(self, c, t_last, origin_ns):
        self.emit("target", Samples(c.t_us, c.euler, self.rate, self.src.truth_names), t_last, origin_ns)


@register_node("file_source")
class FileSourceNode(PacedSourceNode):
    """Replay a CSV/WAV/NPY/NPZ/XDF or raw-binary recording. Params: path, stream (an XDF file's stream
    name; default: its only "samples" stream), rate_hz (if the file has no times),
    time_column, time_unit="us", columns, dtype + channels (raw binary; channels is also the width any file
    must have), scale=1, offset=0 (raw), speed=1.0, pace="realtime"|"fast", chunk=10, progress="auto"|true|false
    (a rich progress bar on stderr when replaying fast). Finished at the end of the file."""

    PARAMS = PACING + RECORDING + Params(
        Param("path", str, REQUIRED, doc="the recording"),
        Param("stream", str, None, doc='an XDF file\'s stream name (default: its only "samples" stream)'),
    )

    def _make_source(self):
        p = self.p
        src = FileSource(p["path"], rate_hz=p["rate_hz"], time_column=p["time_column"], time_unit=p["time_unit"],
                         columns=p["columns"], dtype=p["dtype"], channels=p["channels"], scale=p["scale"],
                         offset=p["offset"], log=self.log, stream=p["stream"])
        self.counters.update(src.stats)
        return src


_LABELLED = Params(
    Param("calibrate", (str, list), None, doc="calibration recordings: paths or globs ($VAR expanded)"),
    Param("evaluate", (str, list), None, doc="evaluation recordings: paths or globs ($VAR expanded)"),
    Param("label", str, None, doc="a regex on the file name whose first group is the label"),
    Param("labels", list, None, doc="one label per file"),
    Param("label_column", (str, int), None, doc="the column holding the label"),
    Param("side_file", str, None, doc="a file of labels beside each recording"),
    Param("label_map", (str, dict), None, doc='"mod N" or a table label -> number'),
    Param("gap_s", float, 0.0, unit="s", lo=0, doc="source time left between files"),
    Param("bad_files", str, "error", choices=("error", "skip"), doc="a file that cannot be read: stop, or skip it"),
)


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
    PARAMS = PACING.without("truth_chunk") + RECORDING + _LABELLED

    def _make_source(self):
        from spikestream.sources.labelled import LabelledReplay

        p = self.p
        kw = {k: p[k] for k in [*RECORDING.names(), *_LABELLED.names()] if k in self.params}
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
