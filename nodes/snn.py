"""The SNN node: input spike packets in, output spike packets out, learning as it streams.

Params: the network description of docs/snn.md (``dt_us``, ``seed``, ``[[layers]]``, ``[[connections]]``,
``outputs``) — or a named template, ``topology = "reservoir" | "synfire" | "feedforward" | "conv"`` with
``topology_params`` (docs/snn-validation.md) — plus the node's own limits (docs/snn.md, "The SNN node"):
``n_inputs`` (fixes the input size; otherwise a restored state or the first packet gives it, and a run of
``resize_after`` consecutive packets of another size rebuilds the network), ``max_inputs`` (largest input
size accepted, default 65536), ``max_gap_ms`` (default 10000: a packet that would advance the network by more
than this jumps the clock to the packet's start without simulating the gap, counted as ``time_jumps``; a
packet whose own window is longer is refused, counted as ``rejected_windows``; so no packet makes the node
simulate more than max_gap_ms) and ``max_bias`` (largest |i_bias|, in the file, a state or a command;
default 1000).
Each inbound packet [t0, t1) advances the network to t1 and emits one Spikes packet covering the steps
just simulated, [time before, time after) — the same window as the inbound one when packet edges lie on
the dt grid — with the inbound ``origin_ns``. Rewards: ``samples`` on port "reward", column c feeds
the reward-gated projections (R-STDP, any rule declared with an eligibility) with ``reward_channel = c``.
``learning = false`` starts with every kind of learning off (STDP, adaptive thresholds, alignment);
``learning = {from_s = 10}`` learns only from 10 s of stream time on (e.g. after a readout's calibration),
``{until_s = 60}`` only for the first minute, ``{from_s = a, until_s = b}`` between the two. Stream time is the
source time the network has simulated since its first packet (kept in its state, so a restart goes on where
it was; a source that restarts its clock does not reset it). The ``learning`` command overrides the schedule.
``align = {ring = 8, per_channel = 2, ...}`` puts a ring alignment (spikestream.snn.align: an armband
put on rotated is found without labels and undone) in front of the network; it learns while learning is on.
Commands: ``learning {"on": bool}``, ``stats``, ``bias {"layer": str, "value": float}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikestream.nodes._snn_params import PARAMS, network_description, template
from spikestream.params import node_params
from spikestream.protocol import Spikes
from spikestream.runtime.node import Node, register_node
from spikestream.snn import build_snn
from spikestream.snn.align import RingAlign
from spikestream.snn.schedule import learning_at, learning_schedule
from spikestream.snn.topologies import build_topology, expand


@register_node("snn")
class SNNNode(Node):
    inputs = {"in": ("spikes",), "reward": ("samples",)}
    outputs = {"out": "spikes"}
    optional = frozenset({"reward"})
    PARAMS = PARAMS
    COMMANDS = {"learning": "{on: true|false}: switch all learning (STDP, alignment) on or off; overrides the "
                            "file's learning schedule",
                "bias": "{layer, value}: set a layer's bias current (|value| <= max_bias)"}

    def setup(self) -> None:
        p = node_params(self)
        self.net_params = network_description(self.params)
        topo, tparams = template(p["topology"], p["topology_params"])
        # a named template (reservoir, synfire, feedforward, conv) or the full network table
        self._make = (lambda n: build_topology(topo, tparams, n)) if topo is not None else \
            (lambda n: build_snn(self.net_params, n))
        self._max_gap_us = int(p["max_gap_ms"] * 1000)
        self._max_inputs, self._resize_after, self._max_bias = p["max_inputs"], p["resize_after"], p["max_bias"]
        self.snn = None
        self._sized_by: str | None = None   # "n_inputs", "state" or "packet": what fixed the input size
        self._state_confirmed = False       # a packet of the restored state's size has arrived
        self._other = (0, 0)                # (size, run length) of consecutive packets of another size
        self._learning, self._schedule = learning_schedule(p["learning"])
        self._stream_us = 0  # source time simulated since the first packet (the schedule's clock)
        self._align = p["align"]  # ring alignment of the input (spikestream.snn.align)
        self.align = None
        if self._align is not None:
            RingAlign(n_inputs=self._align.get("ring", 8) * self._align.get("per_channel", 2), **self._align)
        n = p["n_inputs"]
        if n is not None:
            if n > self._max_inputs:
                raise ValueError(f"parameter 'n_inputs' must be an integer in [1, max_inputs = {self._max_inputs}], "
                                 f"got {n!r}")
            self.snn = self._new(n)
            self._sized_by = "n_inputs"
        elif topo is None:
            self._new(1)  # validate the description now (layers' i_bias against max_bias too)
        elif topo != "conv":  # conv checks its input size at the first packet
            expand(topo, tparams)

    def _new(self, n_inputs: int):
        """A fresh network for `n_inputs` inputs, checked against the node's limits (ValueError)."""
        if not 1 <= n_inputs <= self._max_inputs:
            raise ValueError(f"{n_inputs} inputs: outside [1, max_inputs = {self._max_inputs}]")
        snn = self._make(n_inputs)
        snn.max_bias = self._max_bias
        top = float(np.abs(snn.get_state().get("ibias", ())).max(initial=0.0))  # a conv layer has no bias
        if top > self._max_bias:
            raise ValueError(f"a layer's i_bias ({top:g}) exceeds max_bias = {self._max_bias:g}")
        snn.learning = self._learning
        if self._align is not None:
            self.align = RingAlign(n_inputs=n_inputs, **self._align)
            self.align.learning = self._learning
        return snn

    # ------------------------------------------------------------------ input size
    def _sized(self, n: int) -> bool:
        """Whether the network takes packets for `n` inputs, building or rebuilding it when the rules say
        so: the first packet sizes an unsized network; a run of `resize_after` consecutive packets of one
        other size rebuilds one sized by a packet, or replaces a restored state no packet has matched yet.
        A size fixed by `n_inputs`, or by a restored state a packet has matched, never changes."""
        snn = self.snn
        if snn is not None and n == snn.n_inputs:
            self._other = (0, 0)
            if self._sized_by == "state":
                self._state_confirmed = True
            return True
        if not 1 <= n <= self._max_inputs:
            self.reject("rejected_packets", f"a packet for {n} neurons (the node takes 1 to max_inputs = "
                                             f"{self._max_inputs})")
            return False
        if snn is not None:
            fixed = self._sized_by == "n_inputs" or (self._sized_by == "state" and self._state_confirmed)
            run = self._other[1] + 1 if self._other[0] == n else 1
            self._other = (n, run)
            if fixed or run < self._resize_after:
                self.reject("rejected_packets", f"packet for {n} neurons, the network has {snn.n_inputs} inputs")
                return False
        try:
            new = self._new(n)
        except ValueError as e:
            self.reject("rejected_packets", f"cannot build the network for {n} inputs: {e}")
            return False
        if snn is not None:
            self.count("rebuilds")
            if self._sized_by == "state":
                self.count("rejected_state")
                self.log.error("the restored SNN state is for %d inputs but %d consecutive packets came for %d: "
                               "learned state discarded, starting fresh", snn.n_inputs, self._resize_after, n)
            else:
                self.log.warning("%d consecutive packets for %d neurons: network rebuilt for %d inputs (was %d, "
                                 "sized by the first packet); its learning starts afresh",
                                 self._resize_after, n, n, snn.n_inputs)
        self.snn, self._sized_by, self._other = new, "packet", (0, 0)
        return True

    # ------------------------------------------------------------------ runtime callbacks
    def on_message(self, port: str, msg) -> None:
        if port == "reward":
            self._on_reward(msg)
            return
        b: Spikes = msg.body
        if b.t1_us - b.t0_us > self._max_gap_us:
            self.reject("rejected_windows", f"a packet spanning {(b.t1_us - b.t0_us) / 1e6:.3f} s "
                                             f"(max_gap_ms = {self._max_gap_us / 1000:g})")
            return
        if not self._sized(b.n_neurons):
            return
        snn = self.snn
        if snn.time_us is None:
            snn.start(b.t0_us)
        elif b.t1_us <= snn.time_us - snn.dt_us:  # the source restarted its time base
            self.count("time_resets")
            self.log.warning("source time went back by %.3f s (a restarted source); following it",
                             (snn.time_us - b.t0_us) / 1e6)
            snn.skip_to(b.t0_us)
        elif b.t1_us - snn.time_us > self._max_gap_us:
            self.count("time_jumps")
            self.log.warning("source time jumped by %.1f s; skipping the gap", (b.t0_us - snn.time_us) / 1e6)
            snn.skip_to(b.t0_us)
        if self._schedule is not None:
            self._follow_schedule()
        t_before = snn.time_us
        late0 = snn.late_spikes
        try:  # after the checks above at most max_gap_ms (+ a step for the grid) is left to simulate
            idx = b.idx if self.align is None else self.align.map(b.idx, b.t_us, b.t1_us)
            idx, t = snn.advance(idx, b.t_us, b.t1_us, max_steps=self._max_gap_us // snn.dt_us + 2)
        except ValueError as e:
            self.reject("rejected_packets", str(e))
            return
        self._stream_us += snn.time_us - t_before
        if snn.late_spikes != late0:
            self.count("late_spikes", snn.late_spikes - late0)
        self.count("snn_out_spikes", int(idx.size))
        self.emit("out", Spikes(t_before, snn.time_us, snn.n_outputs, idx.astype(np.uint32), t),
                  t_us=snn.time_us, origin_ns=msg.origin_ns)

    def warm(self) -> None:
        """Load the network's kernels: a scratch node of the same description (this input size when known, else
        one input and two, else the size a template takes), learning on whatever the schedule says (a later
        `learning` command then needs no compile), takes a reward and ten 10 ms packets in which every input
        spikes every step. The real network is not touched."""
        n = self.snn.n_inputs if self.snn is not None else self.params.get("n_inputs")
        # the input size not known yet: one input and two (a one-column weight matrix's column is contiguous,
        # a wider one's strided: Numba compiles a kernel for each layout)
        errors = [e for c in ([n] if n else [1, 2]) if (e := self._warm_with(c))]
        if errors and not n and len(errors) == 2:  # a template that takes only its own input size
            sizes = self._template_sizes()
            errors = [self._warm_with(sizes[0])] if sizes else errors
        if errors and errors[-1]:
            self.log.info("kernels load at the first packet (no scratch network: %s)", errors[-1])

    def _warm_with(self, n: int) -> str | None:
        """One scratch network for `n` inputs through its paces; the error text if it cannot be built."""
        from spikestream.protocol import Samples
        from spikestream.runtime.warm import dense_spikes, feed, scratch

        try:
            s = scratch(self, n_inputs=n, learning=True)
        except Exception as e:  # (a ValueError: not this size; anything else the first packet would meet too)
            return f"{n} inputs: {type(e).__name__}: {e}"
        step = int(getattr(s.snn, "dt_us", 1000))
        feed(s, "reward", Samples(np.array([0], np.int64), np.full((1, 4), 0.1, np.float32), 0.0, []))
        for k in range(10):
            feed(s, "in", dense_spikes(n, k * 10 * step, (k + 1) * 10 * step, step), seq=k)
        return None

    def _template_sizes(self) -> list[int]:
        """The input sizes a named template may take: conv's in_channels*height*width, else its layers' sizes
        (a one_to_one input connection takes exactly one of them)."""
        try:
            topo, tparams = template(self.params.get("topology"), dict(self.params.get("topology_params") or {}))
        except ValueError:
            return []
        if not isinstance(topo, str):
            return []
        if topo == "conv":
            from spikestream.snn.conv import ConvLayer, ConvParams

            return [ConvLayer(ConvParams(**tparams)).n_inputs]
        return sorted({int(layer["n"]) for layer in expand(topo, tparams).get("layers", []) if "n" in layer})

    def _set_learning(self, on: bool) -> None:
        self._learning = on
        if self.snn is not None:
            self.snn.learning = on
        if self.align is not None:
            self.align.learning = on

    def _follow_schedule(self) -> None:
        on = learning_at(self._schedule, self._stream_us)
        if on != self._learning:
            self._set_learning(on)
            self.log.info("learning %s at %.1f s of stream time (the file's schedule)", "on" if on else "off",
                          self._stream_us / 1e6)

    def _on_reward(self, msg) -> None:
        if self.snn is None:
            self.reject("rejected_rewards", "reward before the network is built (no spikes yet)")
            return
        s = msg.body
        snn = self.snn
        t = s.t_us
        if snn.time_us is not None and t.size and int(t[-1]) > snn.time_us + self._max_gap_us:
            self.reject("rejected_rewards", f"reward dated {(int(t[-1]) - snn.time_us) / 1e6:.1f} s ahead of the "
                                             f"network (max_gap_ms = {self._max_gap_us / 1000:g})")
            return
        if snn.time_us is not None and t.size and int(t[0]) < snn.time_us:
            self.count("late_rewards", int((t < snn.time_us).sum()))  # rows applied at the next step
        # only the columns a reward-gated projection listens on: one reward() per column re-sorts the pending ones
        for c in (ch for ch in snn.reward_channels() if ch < s.data.shape[1]):
            snn.reward(t, s.data[:, c].astype(np.float64), channel=c)

    def on_command(self, cmd: str, args: dict[str, Any]) -> Any:
        if cmd == "learning":
            on = args.get("on")
            if not isinstance(on, bool):
                raise ValueError("learning needs {'on': true|false}")
            if self._schedule is not None:
                self.log.info("learning %s by command: the file's schedule no longer applies", "on" if on else "off")
            self._schedule = None
            self._set_learning(on)
            return {"learning": on}
        if cmd == "stats":
            if self.snn is None:
                return {"built": False, "learning": self._learning}
            return {"built": True, **self.snn.stats(), "stream_s": self._stream_us / 1e6}
        if cmd == "bias":
            if self.snn is None:
                raise ValueError("the network is not built yet")
            layer, value = args.get("layer"), args.get("value")
            if not isinstance(layer, str):
                raise ValueError("bias needs {'layer': name, 'value': number}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or abs(value) > self._max_bias:
                raise ValueError(f"bias value must be a finite number with |value| <= max_bias = "
                                 f"{self._max_bias:g}, got {value!r}")
            self.snn.set_bias(layer, float(value))  # unknown layer -> ValueError, nothing changed
            return {"ok": True}
        return super().on_command(cmd, args)

    def get_state(self) -> dict[str, np.ndarray]:
        """The network's state (copies); a restored state no packet has used yet is returned as loaded,
        so a checkpoint taken before the first packet is never emptier than what was restored."""
        if self.snn is None:
            return {}
        s = self.snn.get_state()
        if self.align is not None:
            s.update({f"align.{k}": v for k, v in self.align.get_state().items()})
        s["node.stream_us"] = np.array(self._stream_us, np.int64)
        return s

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a saved state, all checked before anything changes; raises ValueError (only) when it
        cannot be used. Before the input size is known the saved signature's input count sizes the
        network (within max_inputs); packets of another size replace it only as `_sized` says."""
        if not state:
            return
        align = {k[6:]: v for k, v in state.items() if k.startswith("align.")}
        stream_us = _stream_time(state.get("node.stream_us", 0))
        state = {k: v for k, v in state.items() if not k.startswith(("align.", "node."))}
        fresh = self.snn is None  # built here, from the state's signature
        try:
            if not fresh:
                snn = self.snn
                if self.align is not None and align:
                    RingAlign(n_inputs=snn.n_inputs, **self._align).set_state(align)  # check first
                snn.set_state(state)
            else:
                sig = np.asarray(state.get("signature", ()))
                if sig.ndim != 1 or sig.size < 1 or sig.dtype.kind not in "iu":
                    raise ValueError("SNN state has no usable 'signature'")
                snn = self._new(int(sig[0]))  # a fresh alignment too, applied below
                snn.set_state(state)
            if self.align is not None and align:
                self.align.set_state(align)
        except Exception as e:
            if fresh:
                self.align = None  # nothing of a state that could not be used stays
            if isinstance(e, ValueError):
                raise
            # a crafted file must not raise anything the runtime does not expect
            raise ValueError(f"SNN state unusable: {type(e).__name__}: {e}") from None
        if fresh:
            self.snn, self._sized_by, self._state_confirmed = snn, "state", False
        self._stream_us = stream_us
        self._learning = snn.learning
        if self.align is not None:
            self.align.learning = self._learning


def _stream_time(v) -> int:
    a = np.asarray(v)
    if a.size != 1 or a.dtype.kind not in "iu" or int(a.reshape(-1)[0]) < 0:
        raise ValueError(f"SNN state: 'node.stream_us' must be one non-negative integer, got {a.dtype} {a.shape}")
    return int(a.reshape(-1)[0])
