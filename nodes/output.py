"""The control output node: spikes -> decoder -> safety stage -> Control messages and sinks.

Params: `PARAMS` below (docs/reference.md): ``decoder = {kind = ...}``, ``safety = {...}``, ``sinks = [...]``,
and when the decoder learns: ``calibrate_s`` (the first N s of source time, or N s from ``calibrate_from_s``)
or ``calibrate = "target"`` (while the target row's phase column is 1), scheduled by
`spikestream.decode.calibration.CalibrationSchedule`.

Clocks: the watchdog and the slew limits run on the monotonic clock (`time.monotonic_ns`, `clock_ns`), so a
wall-clock step (NTP at boot) can neither silence nor trip them; `poll(now_ns)` gets the runtime's wall time
and ignores it, and `wake_at_ns` converts back to wall time for the loop. Only the ages of inputs use the
wall clock (`wall_ns`), since their origin stamps come from other processes.

Class labels (a decoder with ``output = "label"``): the safety stage runs in discrete mode (labels pass
untouched, validated as integers in [lo, hi] = [0, n_classes - 1] unless given; the watchdog sends the
declared rest class ``safe_value``); ``vote = N`` sends the most frequent of the last N decisions (a tie goes
to the most recent). While the target port carries labels and the decoder is not calibrating (with
``calibrate = "target"``: exactly the packets whose aligned target row has phase 0), each decision is
scored: ``eval_decisions``, ``eval_correct``, ``eval_accuracy`` and ``confusion.<true>.<decided>`` counters
(so they are in the run's report), and ``classification`` in the ``stats`` command and `report()`. The
``eval_settled_*`` counters score only the decisions whose label has held for the decoder's ``window_ms``
(their window holds one gesture, as offline protocols score), beside every decision.

Fail-safe: the safe value goes out (as `Control(safe=True)` on "out" and to every sink) when the watchdog
trips, when a callback raises, from `on_stop()` (the `stop` command, SIGTERM: before the runtime drains its
inputs; nothing decoded after it is published) and from `close()` (end of run) before the sinks close.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from spikestream.decode.calibration import CALIBRATION, CalibrationSchedule, target_columns
from spikestream.decode.decision import MajorityVote
from spikestream.decode.outputs import check_output_table
from spikestream.decode.scoring import DecisionScore
from spikestream.decode.teaching import TargetRows, teaching_target
from spikestream.nodes._sinks import build_sinks, close_sinks, mirror_stats, publish_all
from spikestream.params import REQUIRED, Param, Params, build_kind, node_params, selector
from spikestream.protocol import Control, Message
from spikestream.registry import DECODERS, SINKS
from spikestream.runtime.node import Node, register_node
from spikestream.safety import SafetyStage, check_safety_table, safety_params

PARAMS = Params(
    Param("decoder", dict, REQUIRED, check=selector(DECODERS),
          doc="{kind = ..., ...}: a registered decoder and its parameters (docs/decoders.md)"),
    Param("safety", dict, {}, check=check_safety_table, doc="the safety stage's parameters (`spikestream.safety.SafetyParams`, docs/safety.md)"),
    *CALIBRATION.params,  # calibrate_s, calibrate, phase_channel, target_channels (decode/calibration.py)
    Param("vote", int, 1, lo=1, doc="class labels: majority over the last N decisions (1 = off)"),
    Param("target_max_age_ms", float, 100.0, unit="ms", lo=0, doc="an older target sample is not used"),
    Param("target_buffer", int, 1024, unit="rows", lo=1, doc="target rows kept for alignment"),
    Param("names", list, [], items=str, doc="one name per output"),
    Param("safe_repeat_s", float, 0.1, unit="s", lo=0, lo_open=True, doc="while stale, repeat the safe value this often"),
    Param("max_age_ms", float, 100.0, unit="ms", lo=0, lo_open=True, finite=False,
          doc="a command from input older than this is not published (inf: off)"),
    Param("sinks", list, [], items=dict, check=selector(SINKS), doc="[{kind = ..., ...}, ...] (docs/sinks.md)"),
    check=check_output_table,  # the calibration keys, and names, vote and safety against the decoder's outputs
)


@register_node("control_output")
class ControlOutputNode(Node):
    inputs = {"in": ("spikes",), "target": ("samples",)}
    outputs = {"out": "control"}
    optional = frozenset({"target"})
    PARAMS = PARAMS
    COMMANDS = {"calibrate": "{on: true|false}: start or end the decoder's calibration (ending it fits the decoder)"}

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.clock_ns = time.monotonic_ns  # protects and paces (watchdog, slew); tests may replace it
        self.wall_ns = time.time_ns  # only for the age of inputs (origin stamps cross processes)
        self._ready = False  # set up completely (close() then owes the actuator the safe value)
        self._stopping = False  # told to stop: what the loop still drains is decoded, never published

    # ------------------------------------------------------------------ build
    def setup(self) -> None:
        v = node_params(self)
        dec = dict(v["decoder"])
        self.schedule = CalibrationSchedule(v["calibrate_s"], by_target=v["calibrate"] == "target",
                                            from_s=v["calibrate_from_s"])
        self.by_target = self.schedule.by_target
        dec.setdefault("calibrating", self.schedule.initially_calibrating)
        self.decoder = build_kind(DECODERS, dec, "control_output.decoder")
        K = self.decoder.n_outputs
        labels = getattr(getattr(self.decoder, "params", None), "output", None) == "label"
        self.n_classes = int(getattr(self.decoder, "n_classes", 0)) if labels else 0
        rest = getattr(self.decoder.params, "rest_label", 0) if self.n_classes else 0  # a WTA's may lie outside
        self.safety = SafetyStage(safety_params(v["safety"], K, self.n_classes, rest, "control_output.safety"))
        self._slew_to_safe = self.safety.params.safe_mode == "slew"
        self.names = v["names"]
        if self.names and len(self.names) != K:
            raise ValueError(f"control_output.names: {len(self.names)} names for {K} outputs")
        self.targets = TargetRows(*target_columns(v), v["target_buffer"], int(v["target_max_age_ms"] * 1e3))
        self.target_channels = self.targets.channels  # (the phase column last, with calibrate = "target")
        vote = v["vote"]
        if vote > 1 and not (self.safety.params.discrete and K == 1):
            raise ValueError("control_output.vote needs one discrete output (a decoder with output = \"label\")")
        self.vote = MajorityVote(vote)
        settle_us = 1000.0 * float(getattr(self.decoder.params, "window_ms", 0.0) or 0.0)
        self.score = DecisionScore(self.n_classes, settle_us, lambda row: self.decoder.label_of(row)) \
            if self.n_classes else None
        self.safe_repeat_ns = int(v["safe_repeat_s"] * 1e9)
        self.max_age_ns = v["max_age_ms"] * 1e6
        self.sinks = build_sinks(v["sinks"], "control_output.sinks", self.curve_keys, self.log)
        for sk in self.sinks:
            sk.open(K, self.names)
        self._last_safe_ns = 0
        self._next_sink_stats_ns = 0
        self.safety.reset(self.clock_ns() / 1e9)
        self._ready = True

    def warm(self) -> None:
        """Load the kernels of the decoder (calibrating, its fit, decoding), the safety stage and the watchdog:
        a scratch node of the same parameters without sinks (nothing leaves it) calibrates for 50 ms of scratch
        packets, fits, decodes, trips its watchdog and closes. The real node is not touched."""
        from spikestream.protocol import Samples
        from spikestream.runtime.warm import dense_spikes, feed, scratch

        try:  # calibrating for 50 ms even when the file says 0 s: a later `calibrate` command then compiles nothing
            s = scratch(self, sinks=[], **({} if self.by_target else {"calibrate_s": 0.05, "calibrate_from_s": 0.0}))
        except ValueError:
            s = scratch(self, sinks=[])
        n, K, step = self.decoder.n_inputs, self.decoder.n_outputs, 1000
        ch = [int(c) for c in self.target_channels]
        width = max([K - 1, *ch]) + 1
        for k in range(100):  # 0.1 s of 1 ms packets; a target row per packet, sent just before it
            row = np.zeros((1, width), np.float32)
            if self.by_target:
                row[0, ch[-1]] = 1.0 if k < 50 else 0.0  # the phase column: calibration, then evaluation
            feed(s, "target", Samples(np.array([(k + 1) * step], np.int64), row, 1000.0, []), seq=k)
            feed(s, "in", dense_spikes(n, k * step, (k + 1) * step, step), seq=k)
        now, timeout = s.clock_ns(), s.safety.params.timeout_s
        s.poll(0)
        if np.isfinite(timeout):
            s.clock_ns = lambda: now + int((timeout + 1.0) * 1e9)  # silence: the watchdog trips
            s.poll(0)
        s.close()

    # ------------------------------------------------------------------ inputs
    def on_message(self, port: str, msg: Message) -> None:
        try:
            if port == "target":
                self._add_target(msg.body)
            elif port == "in":
                self._on_spikes(msg)
        except Exception:
            self._fail_safe("on_message raised")
            raise  # the runtime counts and logs it

    def _add_target(self, s) -> None:
        refused = self.targets.add(s.t_us, s.data)
        if refused:
            self.count(refused)

    def _on_spikes(self, msg: Message) -> None:
        sp = msg.body
        dec = self.decoder
        if sp.n_neurons != dec.n_inputs:
            self.reject("rejected_packets", f"spike packet of {sp.n_neurons} neurons for a decoder of {dec.n_inputs} inputs")
            return
        sched = self.schedule
        if sched.started and sp.t0_us < dec.last_until[0]:
            self._time_restart(sp.t0_us)
        sched.begin(sp.t0_us)
        row, phase, bad_phase = self.targets.aligned(sp.t1_us)
        if bad_phase:
            self.count("target_rejected")  # a phase that is neither 0 nor 1
        on = sched.calibrating_at(sp.t1_us, phase)
        if on is not None:
            self._set_calibrating(on)
        target = None
        if dec.calibrating:
            target, refused = teaching_target(dec, row, self.n_classes)
            if refused:
                self.count(refused)
        try:
            y = dec.decode(sp.idx, sp.t_us, sp.t1_us, target)
        except ValueError as e:
            self.reject("rejected_packets", f"spike packet rejected: {e}")
            return
        sched.advance(sp.t1_us)
        self.count("packets")
        if self.n_classes and np.isfinite(y[0]):  # (a non-finite value is the safety stage's to reject)
            if self.vote.n > 1:
                y[0] = self.vote(int(y[0]))
            if row is not None and not dec.calibrating and (not self.by_target or phase == 0):
                self.score.add(self.counters, row, int(y[0]), sp.t1_us)  # held-out evaluation
        if self._stopping:
            self.count("decoded_after_stop")
            return
        age_ns = self.wall_ns() - msg.origin_ns
        if msg.origin_ns > 0 and age_ns > self.max_age_ns:
            # decoded (features and calibration stay continuous) but never sent, and the watchdog is not fed:
            # under lasting overload (or a stall upstream) the actuator gets the safe value, never a stale command
            self.reject("stale_dropped", f"dropping commands: input {age_ns / 1e6:.0f} ms old (max_age_ms = "
                                         f"{self.max_age_ns / 1e6:g}); the watchdog sends the safe value if it lasts")
            return
        y_safe = self.safety.apply(y, self.clock_ns() / 1e9)
        if not self.safety.safe:
            self._last_safe_ns = 0  # the next outage is a new watchdog trip
        self._send(y_safe, sp.t1_us, False, msg.origin_ns)

    def _set_calibrating(self, on: bool) -> None:
        """Start or end the decoder's calibration (ending it fits the decoder; said in the log)."""
        ending = self.decoder.calibrating and not on
        starting = on and not self.decoder.calibrating
        self.decoder.calibrating = on
        if ending:
            self._calibration_ended()
        elif starting and self.schedule.started:
            self.log.info("calibration started after %.1f s of source time", self.schedule.elapsed_s)

    def _calibration_ended(self) -> None:
        fitted = getattr(self.decoder, "fitted", None)
        if fitted is not None and not fitted[0]:
            self.count("calibration_failed")
            self.log.warning("calibration ended but the %s decoder could not be fitted (too little or too "
                             "uniform target data); it outputs zeros until calibrated again",
                             type(self.decoder).__name__)
        else:
            self.log.info("calibration ended after %.1f s of source time", self.schedule.elapsed_s)

    def _time_restart(self, t0_us: int) -> None:
        """Source time went back (the upstream restarted without its state): start the features afresh,
        keep what the decoder learned, and keep the calibration schedule where it was."""
        self.count("time_restarts")
        self.log.warning("source time went back from %d to %d us: decoder features restarted",
                         self.schedule.last_t1_us, t0_us)
        self.schedule.restart(t0_us)
        self.decoder.restart_stream(t0_us)
        self.vote.reset()
        self.targets.clear()

    def _send(self, y: np.ndarray, t_us: int, safe: bool, origin_ns: int) -> None:
        self.emit("out", Control(y, self.names, safe), t_us=t_us, origin_ns=origin_ns)
        publish_all(self.sinks, y, t_us, safe, self.names, origin_ns, lambda why: self.reject("sink_errors", why))

    def _fail_safe(self, why: str, immediate: bool = False) -> None:
        """Send the safe value now (a callback failed, or the node is closing); the output stays safe until
        fresh valid input arrives. Never raises: it runs on the way out of a failure."""
        try:
            self.vote.reset()
            now = self.clock_ns()
            try:
                y = self.safety.force_safe(now / 1e9, immediate)
            except Exception:  # the safety stage itself failed: the declared safe value, at once
                y = self.safety.safe_value.copy()
            self.count("fail_safe")
            self._last_safe_ns = now
            self._send(y, self.schedule.last_t1_us, True, self.wall_ns())
        except Exception as e:  # pragma: no cover - last resort
            self.log.error("could not send the safe value (%s): %s", why, e)

    # ------------------------------------------------------------------ watchdog
    def poll(self, now_ns: int) -> None:
        """Watchdog tick. ``now_ns`` (the runtime's wall time) is ignored: protection runs on `clock_ns`."""
        try:
            self._poll(self.clock_ns())
        except Exception:
            self._fail_safe("poll raised")
            raise

    def _poll(self, now_ns: int) -> None:
        if now_ns >= self._next_sink_stats_ns:  # mirror sink figures into the node's counters, once a second
            self._next_sink_stats_ns = now_ns + 1_000_000_000
            mirror_stats(self.sinks, self.counters)
        y = self.safety.watchdog(now_ns / 1e9)
        if y is None:
            return
        if self._last_safe_ns == 0 or self._slew_to_safe or now_ns - self._last_safe_ns >= self.safe_repeat_ns:
            if self._last_safe_ns == 0:
                self.count("watchdog_trips")
                self.vote.reset()  # decisions from before the outage do not vote after it
            self._last_safe_ns = now_ns
            self._send(y, self.schedule.last_t1_us, True, self.wall_ns())

    def wake_at_ns(self) -> int | None:
        """When the watchdog next needs a tick, on the runtime's wall clock (converted from `clock_ns`)."""
        if self.safety.safe:
            at = self._last_safe_ns + self.safe_repeat_ns
        else:
            t_in = self.safety.times[1]
            if np.isnan(t_in):
                return None
            at = int((t_in + self.safety.params.timeout_s) * 1e9) + 1
        return self.wall_ns() + (at - self.clock_ns())

    # ------------------------------------------------------------------ control
    def on_command(self, cmd: str, args: dict[str, Any]) -> Any:
        if cmd == "calibrate":
            on = args.get("on")
            if not isinstance(on, bool):
                raise ValueError('calibrate needs {"on": true|false}')
            self.schedule.force(on)
            self._set_calibrating(on)
            return {"calibrating": on}
        if cmd == "stats":
            return self.stats()
        raise ValueError(f"control_output has no command {cmd!r} (known: calibrate, stats)")

    def stats(self) -> dict[str, Any]:
        return {"counters": dict(self.counters), "calibrating": self.decoder.calibrating, "safe": self.safety.safe,
                "safety_rejected": self.safety.rejected, **self.report(),
                "sinks": [{"kind": type(s).__name__, **s.stats()} for s in self.sinks]}

    def report(self) -> dict[str, Any]:
        """What a run's report should carry beyond the counters: the held-out classification figures."""
        return {} if self.score is None else {"classification": self.score.summary(self.counters)}

    def get_state(self) -> dict[str, np.ndarray]:
        s = {f"decoder.{k}": v for k, v in self.decoder.get_state().items()}
        s.update({f"safety.{k}": v for k, v in self.safety.get_state().items()})
        s["node.clock"] = self.schedule.get_state()  # (the key kept: checkpoints written before load)
        return s

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if "node.clock" not in state or np.shape(state["node.clock"]) != (4,):
            raise ValueError("control_output state lacks node.clock[4]")
        sched = copy.deepcopy(self.schedule)
        sched.set_state(state["node.clock"])  # checked before anything is written
        self.decoder.calibrating = sched.resumed_calibrating()  # before restoring: no fit runs over restored state
        self.decoder.set_state({k[8:]: v for k, v in state.items() if k.startswith("decoder.")})
        self.safety.set_state({k[7:]: v for k, v in state.items() if k.startswith("safety.")})
        # the saved wall-clock times belong to the previous process: the output is held where it was, at
        # rest, and counts as stale until fresh input arrives (the watchdog takes it to the safe value)
        self.safety.times[0] = self.clock_ns() / 1e9
        self.safety.times[1] = np.nan
        self.safety.v[:] = 0.0
        self.schedule = sched

    def on_stop(self) -> None:
        """The `stop` command or SIGTERM: the safe value goes out now, before the runtime drains the inputs
        (drained packets are still decoded, so evaluation counts them, but no command is published)."""
        if self._ready and not self._stopping:
            self._stopping = True
            self._fail_safe("stopping", immediate=True)

    def close(self) -> None:
        """Stop, SIGTERM or end of run: the safe value goes out on "out" and to every sink, then sinks close."""
        if self._ready:
            self._ready = False
            self._fail_safe("closing", immediate=True)
        close_sinks(self.sinks, self.log)
