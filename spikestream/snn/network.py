"""The SNN stage: build a network from the pipeline file's params and advance it as spikes arrive.

    snn = build_snn(params, n_inputs)
    out_idx, out_t_us = snn.advance(in_idx, in_t_us, until_us)

Time grid: step n covers [n*dt_us, (n+1)*dt_us) of source time (absolute multiples of dt). `advance`
simulates every *complete* step ending at or before `until_us`; input spikes of a step not yet complete wait
inside (they are part of the state). Output spikes are stamped with the start of their step. The clock
starts at t = 0 unless `start(t0_us)` puts it elsewhere first (do that for streams in wall-clock time).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from spikestream.snn import _packet
from spikestream.snn import build as _build
from spikestream.snn.build import SYN_NAMES
from spikestream.snn.kernel import REC_SYN, REC_THETA, run
from spikestream.snn.learning import PC, R_NONE
from spikestream.snn.recording import RecordingMixin
from spikestream.snn.spec import INPUT, NetSpec, parse
from spikestream.snn.state_check import checked_state
from spikestream.snn.steps import check_steps

log = logging.getLogger("spikestream.snn")


class SNN(RecordingMixin):
    """A spiking network advancing in source time. See docs/snn.md."""

    def __init__(self, spec: NetSpec):
        self.spec = spec
        self._net, self._st, self._layout = _build.build(spec)
        self.dt_us = spec.dt_us
        self.n_inputs = spec.n_inputs
        self.n_outputs = int(self._net.n_out)
        self.learning = True
        #: Largest |i_bias| that set_bias and set_state accept (the SNN node sets it from its params).
        self.max_bias = math.inf
        self.late_spikes = 0
        self.late_rewards = 0
        self._step: int | None = None          # next step to simulate
        self._pend_idx = np.zeros(0, np.int64)
        self._pend_t = np.zeros(0, np.int64)
        self._rw = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        N = self._net.n_neurons
        self._spk = np.zeros(N, np.int8)
        self._vpk = np.zeros(N)
        self._spikes = np.zeros(N, np.int64)
        #: Per layer: spikes its neurons would have fired beyond one per step (see `lost_spikes`).
        self._lost = np.zeros(self._net.layer_code.size, np.int64)
        self._lost_warned = False
        self._out_cap = 4096
        self._rec: dict[tuple[str, str], dict] = {}
        self._rec_src = np.zeros(0, np.int64)
        self._rec_idx = np.zeros(0, np.int64)
        self._stats_mark = (0, self._st.count.copy())
        self._stats_w = self._st.w.copy()

    # ------------------------------------------------------------------ description
    @property
    def layers(self) -> dict[str, tuple[int, int]]:
        """Layer name -> (first, end) global neuron index ('input' is the external inputs)."""
        return dict(self._layout.layers)

    @property
    def projections(self) -> list[str]:
        return list(self._layout.projections)

    @property
    def time_us(self) -> int | None:
        """Start of the next step to simulate (None before the first advance / start)."""
        return None if self._step is None else self._step * self.dt_us

    def _layer(self, name: str) -> tuple[int, int]:
        if name == INPUT or name not in self._layout.layers:
            raise ValueError(f"unknown layer {name!r}; layers: {[n for n in self._layout.layers if n != INPUT]}")
        return self._layout.layers[name]

    def _proj(self, name: str) -> dict:
        if name not in self._layout.projections:
            raise ValueError(f"unknown projection {name!r}; projections: {self.projections}")
        return self._layout.projections[name]

    def _model(self, layer: str):
        return next(ls.model for ls in self.spec.layers if ls.name == layer)

    # ------------------------------------------------------------------ running
    def start(self, t_us: int) -> None:
        """Put the clock at the step containing t_us. Only before the first simulated step."""
        if self._step is not None:
            raise ValueError("the network clock is already running")
        self._step = int(t_us) // self.dt_us

    def skip_to(self, t_us: int) -> int:
        """Move the clock to the step holding t_us *without simulating* the gap: forward for a source whose
        time jumped by hours, backward for a source that restarted its time base. Spikes in flight and
        pending inputs are dropped; membrane, traces and weights keep their values. Returns the number of
        steps skipped (negative going back)."""
        new = int(t_us) // self.dt_us
        if self._step is None:
            self._step = new
            return 0
        if new == self._step:
            return 0
        skipped = new - self._step
        self._step = new
        self._st.ring[...] = 0.0
        self._st.ring_used[...] = 0
        keep = self._pend_t >= new * self.dt_us
        self._pend_idx, self._pend_t = self._pend_idx[keep], self._pend_t[keep]
        return skipped

    def advance(self, in_idx, in_t_us, until_us: int, max_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Deliver input spikes (idx < n_inputs, times non-decreasing) and simulate every step that ends
        at or before `until_us`. Returns output spikes (idx int64 into the output layers, t_us int64).
        Input spikes earlier than the current simulated time are dropped and counted in `late_spikes`.
        With `max_steps`, a call that would simulate more steps than that is refused (ValueError) before
        anything changes: a stream node bounds the work one message can cause."""
        check_steps(until_us, self.dt_us, self._step or 0, max_steps)
        idx = np.asarray(in_idx)
        t = np.asarray(in_t_us)
        if idx.ndim != 1 or t.ndim != 1 or idx.shape != t.shape:
            raise ValueError(f"in_idx and in_t_us must be 1-d of equal length, got {idx.shape} and {t.shape}")
        if idx.size and (idx.dtype.kind not in "iu" or t.dtype.kind not in "iu"):
            raise ValueError("in_idx and in_t_us must be integer arrays")
        # an unsigned index past int64 becomes negative here and is refused as out of range
        idx = idx.astype(np.int64, copy=False)
        t = t.astype(np.int64, copy=False)
        until_us = int(until_us)
        dt = self.dt_us
        step = 0 if self._step is None else self._step  # without start(), the clock starts at t = 0
        n_end = until_us // dt
        # checks, late spikes, the pending ones joined, the complete steps' split off: one pass (_packet.py)
        err, late, in_step, in_idx_, pend_idx, pend_t = _packet.prepare(idx, t, self._pend_idx, self._pend_t,
                                                                        step * dt, n_end, dt, self.n_inputs)
        if err == _packet.OUT_OF_RANGE:
            raise ValueError(f"input index out of range [0, {self.n_inputs})")
        if err == _packet.UNSORTED:
            raise ValueError("input spike times are not sorted")
        self._step = step
        self.late_spikes += late
        self._pend_idx, self._pend_t = pend_idx, pend_t
        n_steps = max(0, n_end - step)
        out_i, out_t = self._run(n_steps, in_step, in_idx_)
        if self.spec.outputs[0] == INPUT and in_idx_.size:  # the readout's skip path: input spikes first,
            out_i, out_t = _packet.merge_inputs(in_idx_, in_step, dt, out_i, out_t)  # stamped like outputs
        return out_i, out_t

    def _run(self, n_steps: int, in_step: np.ndarray, in_idx: np.ndarray):
        rw_step, rw_ch, rw_val = self._rw
        outs_s, outs_i = [], []
        recs = []
        nrec = self._rec_src.size
        done_total = 0
        while done_total < n_steps:
            todo = n_steps - done_total
            cap = max(self._out_cap, self.n_outputs)
            out_step = np.empty(cap, np.int64)
            out_idx = np.empty(cap, np.int64)
            rec_buf = np.empty((todo if nrec else 0, nrec))
            done, n_out, ii, ri = run(self._net, self._st, self._step, todo, in_step, in_idx, rw_step, rw_ch,
                                      rw_val, self.learning, out_step, out_idx, self._rec_src, self._rec_idx,
                                      rec_buf, self._spk, self._vpk, self._spikes, self._lost)
            outs_s.append(out_step[:n_out])
            outs_i.append(out_idx[:n_out])
            if nrec:
                recs.append((self._step + np.arange(done), rec_buf[:done]))
            in_step, in_idx = in_step[ii:], in_idx[ii:]
            rw_step, rw_ch, rw_val = rw_step[ri:], rw_ch[ri:], rw_val[ri:]
            self._step += int(done)
            done_total += int(done)
            if done < todo:
                self._out_cap = cap * 4
        self._rw = (rw_step, rw_ch, rw_val)
        if not self._lost_warned and self._lost.any():
            self._warn_lost()
        for steps, buf in recs:
            self._store_records(steps, buf)
        if not outs_s:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if len(outs_s) == 1:  # the usual case: one kernel call did it all
            return outs_i[0], outs_s[0] * self.dt_us
        return np.concatenate(outs_i), np.concatenate(outs_s) * self.dt_us

    @property
    def lost_spikes(self) -> int:
        """Spikes neurons would have fired beyond one per step (several threshold crossings among one
        step's sub-steps, e.g. Izhikevich chattering at dt = 1 ms): only one per step is emitted."""
        return int(self._lost.sum())

    def _lost_by_layer(self) -> dict[str, int]:
        return {ls.name: int(n) for ls, n in zip(self.spec.layers, self._lost)}

    def _warn_lost(self) -> None:
        self._lost_warned = True
        layers = ", ".join(f"{k!r} ({n})" for k, n in self._lost_by_layer().items() if n)
        log.warning("neurons fired more than once in one %g ms step and only one spike per step is emitted: "
                    "spikes lost so far: layer %s; use a smaller dt_us (counted in stats()['lost_spikes'], "
                    "warned once per network)", self.dt_us / 1000, layers)

    def reward_channels(self) -> list[int]:
        """The reward channels the network listens on, sorted: the ``reward_channel`` of every projection
        whose rule is reward-gated (declared with an eligibility, as R-STDP, a plugin's rule too)."""
        pp = self._net.proj_pp
        gated = (self._net.proj_rule != R_NONE) & (pp[:, PC.elig] != 0)
        return sorted({int(c) for c in pp[gated, PC.reward_channel]})

    def reward(self, t_us, values, channel: int = 0) -> None:
        """Reward (dopamine) arriving at source times `t_us` for R-STDP projections listening on
        `channel`. A reward older than the simulated time is applied at the next step (`late_rewards`)."""
        t = np.atleast_1d(np.asarray(t_us, np.int64))
        v = np.atleast_1d(np.asarray(values, np.float64))
        if t.shape != v.shape or t.ndim != 1:
            raise ValueError("reward: t_us and values must be 1-d of equal length")
        if not np.all(np.isfinite(v)):
            raise ValueError("reward: values must be finite")
        if isinstance(channel, bool) or int(channel) != channel or channel < 0:
            raise ValueError("reward: channel must be a non-negative integer")
        steps = t // self.dt_us
        if self._step is not None:
            late = steps < self._step
            self.late_rewards += int(late.sum())
            steps = np.maximum(steps, self._step)
        s, c, val = self._rw
        s = np.concatenate([s, steps])
        c = np.concatenate([c, np.full(steps.size, int(channel), np.int64)])
        val = np.concatenate([val, v])
        o = np.argsort(s, kind="stable")
        self._rw = (s[o], c[o], val[o])

    # ------------------------------------------------------------------ access
    def weights(self, projection: str) -> np.ndarray:
        """A copy of the projection's weights, in synapse order (sorted by pre, then post)."""
        p = self._proj(projection)
        w = self._st.w[p["lo"]:p["hi"]]
        if p["dense"]:  # stored post-major
            n_pre, n_post = self._sizes(p)
            return w.reshape(n_post, n_pre).T.ravel()
        return w.copy()

    def _sizes(self, p: dict) -> tuple[int, int]:
        a, b = self._layout.layers[p["pre"]]
        c, d = self._layout.layers[p["post"]]
        return b - a, d - c

    def set_weights(self, projection: str, w) -> None:
        p = self._proj(projection)
        w = np.asarray(w, np.float64)
        if w.shape != (p["hi"] - p["lo"],):
            raise ValueError(f"set_weights({projection!r}): expected shape ({p['hi'] - p['lo']},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and >= 0")
        if p["dense"]:
            n_pre, n_post = self._sizes(p)
            w = w.reshape(n_pre, n_post).T.ravel()
        self._st.w[p["lo"]:p["hi"]] = w

    def connectivity(self, projection: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pre, post, delay_steps) of the projection's synapses: local indices within their layers."""
        p = self._proj(projection)
        pre0, pre1 = self._layout.layers[p["pre"]]
        post0, post1 = self._layout.layers[p["post"]]
        if p["dense"]:
            n_pre, n_post = pre1 - pre0, post1 - post0
            return (np.repeat(np.arange(n_pre), n_post), np.tile(np.arange(n_post), n_pre),
                    np.full(n_pre * n_post, p["delay"], np.int64))
        a, b = p["sp_lo"], p["sp_hi"]
        return (self._net.syn_pre[a:b].astype(np.int64) - pre0, self._net.syn_post[a:b].astype(np.int64) - post0,
                self._net.syn_delay[a:b].astype(np.int64))

    def weight_matrix(self, projection: str) -> np.ndarray:
        """Dense [n_pre, n_post] weights (0 where not connected; multapses summed)."""
        pre, post, _ = self.connectivity(projection)
        p = self._proj(projection)
        a, b = self._layout.layers[p["pre"]]
        c, d = self._layout.layers[p["post"]]
        m = np.zeros((b - a, d - c))
        np.add.at(m, (pre, post), self.weights(projection))
        return m

    def set_bias(self, layer: str, values) -> None:
        """Set the constant input i_bias of a layer's neurons (scalar or one value per neuron)."""
        a, b = self._layer(layer)
        v = np.asarray(values, np.float64)
        if v.ndim == 0:
            v = np.full(b - a, float(v))
        if v.shape != (b - a,) or not np.all(np.isfinite(v)):
            raise ValueError(f"set_bias({layer!r}): need a finite scalar or {b - a} values")
        if v.size and np.abs(v).max() > self.max_bias:
            raise ValueError(f"set_bias({layer!r}): |value| must be <= {self.max_bias:g} (max_bias)")
        self._st.ibias[a:b] = v

    def variable(self, layer: str, var: str) -> np.ndarray:
        """Current value of a state variable (model variable, i_exc/i_inh/g_exc/g_inh, theta) of a layer."""
        a, b = self._layer(layer)
        src = self._var_src(layer, var)
        if src < REC_SYN:
            return self._st.S[src, a:b].copy()
        if src < REC_THETA:
            return self._st.syn[src - REC_SYN, a:b].copy()
        return self._st.theta[a:b].copy()

    def _var_src(self, layer: str, var: str) -> int:
        model = self._model(layer)
        if var in model.variables:
            return model.variables.index(var)
        if var in SYN_NAMES:
            return REC_SYN + SYN_NAMES.index(var)
        if var == "theta":
            return REC_THETA
        raise ValueError(f"layer {layer!r} ({model.name}) has no variable {var!r}; it has "
                         f"{list(model.variables) + list(SYN_NAMES) + ['theta']}")

    # ------------------------------------------------------------------ stats
    def stats(self) -> dict[str, Any]:
        """Per-layer firing rates (Hz) and mean absolute weight change per projection since the previous call,
        and mean weight per projection."""
        step_now = self._step or 0
        step0, c0 = self._stats_mark
        span_s = max(step_now - step0, 0) * self.dt_us * 1e-6
        c = self._st.count
        rates = {}
        for name, (a, b) in self._layout.layers.items():
            if name == INPUT:
                continue
            n = int(c[a:b].sum() - c0[a:b].sum())
            rates[name] = n / span_s / (b - a) if span_s > 0 else 0.0
        self._stats_mark = (step_now, c.copy())
        w, w0 = self._st.w, self._stats_w
        mean_w, dw = {}, {}
        for name, p in self._layout.projections.items():
            lo, hi = p["lo"], p["hi"]
            mean_w[name] = float(w[lo:hi].mean()) if hi > lo else 0.0
            dw[name] = float(np.abs(w[lo:hi] - w0[lo:hi]).mean()) if hi > lo else 0.0
        self._stats_w = w.copy()
        return {"rates_hz": rates, "mean_weight": mean_w, "weight_change": dw, "time_us": self.time_us,
                "learning": self.learning, "late_spikes": self.late_spikes, "late_rewards": self.late_rewards,
                "lost_spikes": self._lost_by_layer()}

    # ------------------------------------------------------------------ state
    def _signature(self) -> np.ndarray:
        n = self._net
        parts = [n.n_inputs, n.n_neurons, self._st.w.size, self._st.ring.shape[0], n.proj_rule.size,
                 n.layer_code.size]
        return np.array(parts + list(n.layer_code) + list(n.layer_hi - n.layer_lo) + list(n.proj_rule), np.int64)

    def get_state(self) -> dict[str, np.ndarray]:
        d = {k: np.array(v, copy=True) for k, v in self._st._asdict().items()}
        d["step"] = np.array([-1 if self._step is None else self._step], np.int64)
        d["pend_idx"], d["pend_t"] = self._pend_idx.copy(), self._pend_t.copy()
        d["rw_step"], d["rw_ch"], d["rw_val"] = (a.copy() for a in self._rw)
        d["learning"] = np.array([self.learning], np.bool_)
        d["signature"] = self._signature()
        return d

    def set_state(self, d: dict[str, np.ndarray]) -> None:
        """Restore what `get_state` returned. Everything is checked before anything is written: keys,
        signature, shapes, dtypes, finiteness and ranges (every index against its bound). A refused state
        raises ValueError (and nothing else) and leaves the network exactly as it was."""
        new, step, pend, rw, learning = checked_state(self, d)
        for k, v in new.items():
            getattr(self._st, k)[...] = v
        self._step = None if step < 0 else step
        self._pend_idx, self._pend_t = pend
        self._rw = rw
        self.learning = learning
        self._stats_mark = (self._step or 0, self._st.count.copy())
        self._stats_w = self._st.w.copy()


def build_snn(params: dict[str, Any], n_inputs: int) -> SNN:
    """Build the network described by `params` (the pipeline file's SNN table) for `n_inputs` inputs."""
    return SNN(parse(params, n_inputs))

