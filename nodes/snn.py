"""The SNN node: input spike packets in, output spike packets out, learning as it streams.

Params: the network description of docs/snn.md (``dt_us``, ``seed``, ``[[layers]]``, ``[[connections]]``,
``outputs``) — or a named template, ``topology = "reservoir" | "synfire" | "feedforward" | "conv"`` with
``topology_params`` (docs/snn-validation.md) — plus optional ``n_inputs`` (otherwise taken from the first packet's neuron count) and
``max_gap_ms`` (default 10000): a packet that would advance the network by more than this jumps the clock
to the packet's start without simulating the gap (counted as ``time_jumps``), so a source clock jump cannot
stall the node.
Each inbound packet [t0, t1) advances the network to t1 and emits one Spikes packet covering the steps
just simulated, [time before, time after) — the same window as the inbound one when packet edges lie on
the dt grid — with the inbound ``origin_ns``. Rewards: ``samples`` on port "reward", column c feeds
R-STDP projections with ``reward_channel = c``.
Commands: ``learning {"on": bool}``, ``stats``, ``bias {"layer": str, "value": float}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikestream.protocol import Spikes
from spikestream.runtime.node import Node, register_node
from spikestream.snn import build_snn
from spikestream.snn.topologies import build_topology, expand


@register_node("snn")
class SNNNode(Node):
    inputs = {"in": ("spikes",), "reward": ("samples",)}
    outputs = {"out": "spikes"}
    optional = frozenset({"reward"})

    def setup(self) -> None:
        self.net_params = {k: v for k, v in self.params.items() if k not in ("n_inputs", "max_gap_ms")}
        topo = self.net_params.pop("topology", None)
        tparams = self.net_params.pop("topology_params", {})
        if topo is not None and self.net_params:
            raise ValueError(f"with 'topology' give its parameters in 'topology_params', not {sorted(self.net_params)}")
        # a named template (reservoir, synfire, feedforward, conv) or the full network table
        self._make = (lambda n: build_topology(topo, tparams, n)) if topo is not None else \
            (lambda n: build_snn(self.net_params, n))
        gap = self.params.get("max_gap_ms", 10_000)
        if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not gap > 0:
            raise ValueError(f"parameter 'max_gap_ms' must be a positive number, got {gap!r}")
        self._max_gap_us = int(gap * 1000)
        self.snn = None
        self._pending_state: dict | None = None
        self._learning = True
        n = self.params.get("n_inputs")
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"parameter 'n_inputs' must be a positive integer, got {n!r}")
            self._build(n)
        elif topo is None:
            build_snn(self.net_params, 1)  # validate the description now, whatever the input size
        elif topo != "conv":  # conv checks its input size at the first packet
            expand(topo, tparams)

    def _build(self, n_inputs: int) -> None:
        self.snn = self._make(n_inputs)
        self.snn.learning = self._learning
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            try:
                self.snn.set_state(state)
            except ValueError as e:  # a saved state of another network: start fresh, loudly
                self.count("rejected_state")
                self.log.error("saved SNN state not loaded: %s", e)

    def _reject(self, key: str, why: str) -> None:
        self.count(key)
        self.log.warning("%s: %s", key, why)

    # ------------------------------------------------------------------ runtime callbacks
    def on_message(self, port: str, msg) -> None:
        if port == "reward":
            self._on_reward(msg)
            return
        b: Spikes = msg.body
        if self.snn is None:
            if b.n_neurons < 1:
                self._reject("rejected_packets", "a spike packet for 0 neurons cannot size the network")
                return
            try:
                self._build(b.n_neurons)
            except ValueError as e:
                self._reject("rejected_packets", f"cannot build the network: {e}")
                return
        snn = self.snn
        if b.n_neurons != snn.n_inputs:
            self._reject("rejected_packets", f"packet for {b.n_neurons} neurons, the network has {snn.n_inputs} inputs")
            return
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
        t_before = snn.time_us
        late0 = snn.late_spikes
        try:
            idx, t = snn.advance(b.idx, b.t_us, b.t1_us)
        except ValueError as e:
            self._reject("rejected_packets", str(e))
            return
        if snn.late_spikes != late0:
            self.count("late_spikes", snn.late_spikes - late0)
        self.count("snn_out_spikes", int(idx.size))
        self.emit("out", Spikes(t_before, snn.time_us, snn.n_outputs, idx.astype(np.uint32), t),
                  t_us=snn.time_us, origin_ns=msg.origin_ns)

    def _on_reward(self, msg) -> None:
        if self.snn is None:
            self._reject("rejected_rewards", "reward before the network is built (no spikes yet)")
            return
        s = msg.body
        late0 = self.snn.late_rewards
        for c in range(s.data.shape[1]):
            self.snn.reward(s.t_us, s.data[:, c].astype(np.float64), channel=c)
        if self.snn.late_rewards != late0:
            self.count("late_rewards", self.snn.late_rewards - late0)

    def on_command(self, cmd: str, args: dict[str, Any]) -> Any:
        if cmd == "learning":
            on = args.get("on")
            if not isinstance(on, bool):
                raise ValueError("learning needs {'on': true|false}")
            self._learning = on
            if self.snn is not None:
                self.snn.learning = on
            return {"learning": on}
        if cmd == "stats":
            if self.snn is None:
                return {"built": False, "learning": self._learning}
            return {"built": True, **self.snn.stats()}
        if cmd == "bias":
            if self.snn is None:
                raise ValueError("the network is not built yet")
            self.snn.set_bias(str(args.get("layer")), float(args.get("value", 0.0)))
            return {"ok": True}
        return super().on_command(cmd, args)

    def get_state(self) -> dict[str, np.ndarray]:
        return {} if self.snn is None else self.snn.get_state()

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if not state:
            return
        if self.snn is None:
            self._pending_state = dict(state)  # applied once the first packet sizes the network
            self._learning = bool(np.asarray(state.get("learning", [True])).reshape(-1)[0])
        else:
            self.snn.set_state(state)
            self._learning = self.snn.learning
