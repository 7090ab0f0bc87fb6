"""Convolutional spiking layer with shared weights, spike pooling and k-winners-take-all STDP.

The streaming counterpart of SpykeTorch's ``Convolution`` + ``Pooling`` + ``STDP`` + ``get_k_winners``
(Mozafari et al. 2019; Kheradpisheh et al. 2018), stepped at a fixed ``dt`` so that event-camera input
(``idx = p*H*W + y*W + x``) and latency-coded images (``idx = c*H*W + y*W + x``) both drive it online.

Per step, event-driven:
  1. ``v[f,oy,ox] *= decay`` (``decay = exp(-dt/tau)``; ``tau_us = 0`` is a non-leaky IF neuron);
  2. each input spike at (c,iy,ix) adds ``w[f,c,ky,kx]`` to every output it reaches (shared kernels);
  3. pointwise lateral inhibition: at each position only the feature with the highest potential may fire,
     if that potential reaches ``threshold``; the whole column (all features) is then reset to 0;
  4. learning (k-WTA): up to ``k_winners`` of this step's firing neurons, highest potential first, with
     no two winners of the same feature and none within ``inhibition_radius`` (Chebyshev) of an earlier
     winner, update their feature's kernel: ``dw = a * w * (1 - w)``, ``a = a_plus`` if the pre-synaptic
     input spiked within the last ``stdp_window_us`` (pre before or with post), else ``a = a_minus``;
  5. spike max-pooling: pooled unit (f, oy//pool, ox//pool) spikes if any unit of its window fired.

Output index ``f*Hp*Wp + py*Wp + px``. Chunk-invariant: inputs at or after the last whole step are held
until a later `advance` reaches them. The clock follows the SNN stage's contract (`time_us`, `start`,
`skip_to`, `late_spikes`, `stats`), so the SNN node can run this layer in place of `build_snn`'s network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikestream.snn._conv_kernel import _conv_advance
from spikestream.snn.steps import check_steps


@dataclass(frozen=True)
class ConvParams:
    in_channels: int = 2
    height: int = 32
    width: int = 32
    n_features: int = 8
    kernel: int = 5
    stride: int = 1
    padding: int = 0
    pool: int = 2
    threshold: float = 15.0
    tau_us: float = 20_000.0  # membrane leak; 0 = perfect integrator (SpykeTorch's IF)
    dt_us: int = 1000
    k_winners: int = 1
    inhibition_radius: int = 2
    a_plus: float = 0.004  # SpykeTorch defaults
    a_minus: float = -0.003
    stdp_window_us: float = 20_000.0
    w_mean: float = 0.8
    w_std: float = 0.05
    learning: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("in_channels", "height", "width", "n_features", "kernel", "stride", "pool", "dt_us"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"conv: {name} must be >= 1, got {getattr(self, name)}")
        if self.padding < 0:
            raise ValueError(f"conv: padding must be >= 0, got {self.padding}")
        if self.k_winners < 0 or self.inhibition_radius < 0:
            raise ValueError("conv: k_winners and inhibition_radius must be >= 0")
        if not (np.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"conv: threshold must be a finite number > 0, got {self.threshold}")
        if not (self.tau_us >= 0 and np.isfinite(self.tau_us)):
            raise ValueError(f"conv: tau_us must be >= 0 (0 = no leak), got {self.tau_us}")
        if not (self.a_plus >= 0 and self.a_minus <= 0):
            raise ValueError("conv: need a_plus >= 0 and a_minus <= 0")
        if not (0.0 <= self.w_mean <= 1.0 and self.w_std >= 0):
            raise ValueError("conv: weights live in [0, 1]: need 0 <= w_mean <= 1 and w_std >= 0")
        if self.stdp_window_us < 0:
            raise ValueError("conv: stdp_window_us must be >= 0")
        if self.conv_height < 1 or self.conv_width < 1:
            raise ValueError(
                f"conv: kernel {self.kernel} (stride {self.stride}, padding {self.padding}) does not fit "
                f"a {self.height}x{self.width} input")

    @property
    def conv_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def conv_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_height(self) -> int:
        return max(1, self.conv_height // self.pool)

    @property
    def out_width(self) -> int:
        return max(1, self.conv_width // self.pool)


# ------------------------------------------------------------------------------------------ stage
class ConvLayer:
    """A streaming convolutional SNN stage (SNN stage contract: `advance(in_idx, in_t_us, until_us)`)."""

    def __init__(self, params: ConvParams):
        self.params = p = params
        self.n_inputs = p.in_channels * p.height * p.width
        self.n_outputs = p.n_features * p.out_height * p.out_width
        self.dt_us = int(p.dt_us)
        self.learning = bool(p.learning)
        self._decay = 1.0 if p.tau_us == 0 else float(np.exp(-p.dt_us / p.tau_us))
        self._win_steps = int(p.stdp_window_us // p.dt_us)
        rng = np.random.default_rng(p.seed)
        w = rng.normal(p.w_mean, p.w_std, (p.n_features, p.in_channels, p.kernel, p.kernel))
        self.w = np.clip(w, 0.0, 1.0)
        Ho, Wo = p.conv_height, p.conv_width
        self.v = np.zeros((p.n_features, Ho, Wo))
        self.last_pre = np.full((p.in_channels, p.height, p.width), -1, np.int64)
        self.pool_mark = np.full((p.n_features, p.out_height, p.out_width), -1, np.int64)
        self.step: int | None = None  # next step to simulate (None: clock not started)
        self.late_spikes = 0
        self.late_rewards = 0
        self._n_out = 0
        self._stats_mark = (0, 0)
        self._stats_w = self.w.copy()
        self.pending_idx = np.zeros(0, np.int32)
        self.pending_t = np.zeros(0, np.int64)
        # scratch (no allocation per step)
        self._fired_f = np.full((Ho, Wo), -1, np.int64)
        self._fired_v = np.zeros((Ho, Wo))
        self._won = np.zeros(p.n_features, np.bool_)
        self._blocked = np.zeros((Ho, Wo), np.bool_)
        self._out_idx = np.zeros(max(4096, 4 * Ho * Wo), np.int32)
        self._out_step = np.zeros_like(self._out_idx, dtype=np.int64)

    def reset_potentials(self) -> None:
        """Clear membrane potentials (SpykeTorch resets between images)."""
        self.v[:] = 0.0

    # ------------------------------------------------------------------ clock (same contract as SNN)
    @property
    def time_us(self) -> int | None:
        """Start of the next step to simulate (None until `start` or the first `advance`)."""
        return None if self.step is None else self.step * self.dt_us

    def start(self, t_us: int) -> None:
        """Put the clock at the step holding t_us (only before the first step)."""
        if self.step is not None:
            raise ValueError("conv: the clock is already running")
        self.step = int(t_us) // self.dt_us

    def skip_to(self, t_us: int) -> int:
        """Jump the clock forward without simulating (pending inputs before it are dropped)."""
        new = int(t_us) // self.dt_us
        if self.step is None or new <= self.step:
            self.step = new if self.step is None else self.step
            return 0
        skipped, self.step = new - self.step, new
        keep = self.pending_t >= new * self.dt_us
        self.pending_idx, self.pending_t = self.pending_idx[keep], self.pending_t[keep]
        return skipped

    def advance(self, in_idx, in_t_us, until_us: int, max_steps: int | None = None):
        """Deliver input spikes and simulate every step ending at or before `until_us`; returns the pooled
        output spikes (idx int32, t_us int64 = step start). Inputs older than the clock are dropped and
        counted in `late_spikes`; inputs of an unfinished step wait for the next call. With `max_steps`, a
        call that would simulate more steps than that is refused (ValueError) before anything changes, as
        `SNN.advance` does: the SNN node bounds the work one message can cause."""
        if self.step is not None:  # (before the clock starts, it starts at the first input)
            check_steps(until_us, self.dt_us, self.step, max_steps, "conv: ")
        idx = np.asarray(in_idx)
        t = np.asarray(in_t_us)
        if idx.ndim != 1 or t.shape != idx.shape:
            raise ValueError("conv: in_idx and in_t_us must be 1-D arrays of equal length")
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or not np.issubdtype(t.dtype, np.integer)):
            raise ValueError("conv: input indices and times must be integer arrays")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_inputs):
            raise ValueError(f"conv: input indices must be integers in [0, {self.n_inputs})")
        if t.size and (np.any(np.diff(t) < 0)):
            raise ValueError("conv: input spike times must be non-decreasing")
        until_us = int(until_us)
        if t.size and int(t[-1]) >= until_us:
            raise ValueError(f"conv: input spike at t={int(t[-1])} us is not before until_us={until_us}")
        if self.step is None:
            self.step = (int(t[0]) if t.size else until_us) // self.dt_us
        idx = idx.astype(np.int32)
        t = t.astype(np.int64)
        late = t < self.step * self.dt_us
        if late.any():
            self.late_spikes += int(late.sum())
            idx, t = idx[~late], t[~late]
        if self.pending_idx.size:
            idx = np.concatenate([self.pending_idx, idx])
            t = np.concatenate([self.pending_t, t])
        step_in = t // self.dt_us
        end_step = max(self.step, until_us // self.dt_us)
        keep = step_in < end_step
        self.pending_idx = idx[~keep].copy()
        self.pending_t = t[~keep].copy()
        idx = np.ascontiguousarray(idx[keep], np.int32)
        step_in = np.ascontiguousarray(step_in[keep])
        outs_i, outs_s = [], []
        p = self.params
        while self.step < end_step:
            j0 = np.searchsorted(step_in, self.step)
            n, done = _conv_advance(
                idx[j0:], step_in[j0:], self.step, end_step - self.step, self.w, self.v, self.last_pre,
                self.pool_mark, self._fired_f, self._fired_v, self._won, self._blocked,
                self._decay, float(p.threshold), p.stride, p.padding, p.pool, self.learning,
                p.k_winners, p.inhibition_radius, self._win_steps, float(p.a_plus), float(p.a_minus),
                self._out_idx, self._out_step)
            outs_i.append(self._out_idx[:n].copy())
            outs_s.append(self._out_step[:n].copy())
            self.step += done
            self._n_out += n
        if not outs_i:
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        return np.concatenate(outs_i), np.concatenate(outs_s) * self.dt_us

    # ------------------------------------------------------------------ what the SNN node also asks
    def reward_channels(self) -> list[int]:
        """None: this layer learns by k-WTA STDP, no reward gates it (the SNN node then only dates rewards)."""
        return []

    def reward(self, t_us, values, channel: int = 0) -> None:
        raise ValueError("conv: this layer learns by k-WTA STDP; it takes no reward")

    def set_bias(self, layer: str, values) -> None:
        raise ValueError("conv: this layer has no bias input")

    def stats(self) -> dict:
        """Mean output rate (Hz per pooled unit) and mean absolute weight change since the last call, mean
        weight, clock, learning."""
        step_now = self.step or 0
        s0, n0 = self._stats_mark
        span = (step_now - s0) * self.dt_us * 1e-6
        rate = (self._n_out - n0) / span / self.n_outputs if span > 0 else 0.0
        self._stats_mark = (step_now, self._n_out)
        dw = float(np.abs(self.w - self._stats_w).mean())
        self._stats_w = self.w.copy()
        return {"rates_hz": {"conv": rate}, "mean_weight": {"conv": float(self.w.mean())},
                "weight_change": {"conv": dw}, "time_us": self.time_us, "learning": self.learning, "late_spikes": self.late_spikes,
                "late_rewards": 0}

    def feature_maps(self) -> np.ndarray:
        """Shared kernels, [n_features, in_channels, kernel, kernel] (a copy)."""
        return self.w.copy()

    def _signature(self) -> np.ndarray:
        """What a saved state must have been saved from: the input count first (the SNN node sizes a fresh
        layer from it, as it does a network), then the sizes that shape the state's arrays."""
        p = self.params
        return np.array([self.n_inputs, p.in_channels, p.height, p.width, p.n_features, p.kernel, p.stride,
                         p.padding, p.pool], np.int64)

    def get_state(self) -> dict[str, np.ndarray]:
        return {"w": self.w.copy(), "v": self.v.copy(), "last_pre": self.last_pre.copy(),
                "pool_mark": self.pool_mark.copy(),
                "step": np.array(-1 if self.step is None else self.step, np.int64),
                "pending_idx": self.pending_idx.copy(), "pending_t": self.pending_t.copy(),
                "signature": self._signature()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a `get_state`; everything is checked before anything is written (ValueError)."""
        for key in ("w", "v", "last_pre", "pool_mark", "step"):
            if key not in state:
                raise ValueError(f"conv: state lacks {key!r}")
        a = {k: np.asarray(v) for k, v in state.items()}
        if "signature" in a and (a["signature"].shape != (9,) or a["signature"].dtype.kind not in "iu"
                                 or not np.array_equal(a["signature"], self._signature())):
            raise ValueError(f"conv: the state was saved from another layer (signature {a['signature'].tolist()}, "
                             f"this layer {self._signature().tolist()})")
        for key in ("w", "v", "last_pre", "pool_mark"):
            cur = getattr(self, key)
            if a[key].shape != cur.shape:
                raise ValueError(f"conv: state {key!r} has shape {a[key].shape}, this layer {cur.shape}")
            if a[key].dtype.kind not in ("f" if cur.dtype.kind == "f" else "iu"):
                raise ValueError(f"conv: state {key!r} has dtype {a[key].dtype}, expected {cur.dtype}")
        if not np.all(np.isfinite(a["v"])) or not np.all((a["w"] >= 0.0) & (a["w"] <= 1.0)):
            raise ValueError("conv: state 'v' must be finite and 'w' within [0, 1]")
        step = a["step"].reshape(-1)
        if step.size != 1 or step.dtype.kind not in "iu" or int(step[0]) < -1:
            raise ValueError(f"conv: state 'step' must be one integer >= -1, got {a['step']!r}")
        pi = a.get("pending_idx", np.zeros(0, np.int32))
        pt = a.get("pending_t", np.zeros(0, np.int64))
        if pi.ndim != 1 or pt.shape != pi.shape or (pi.size and (pi.dtype.kind not in "iu" or pt.dtype.kind not in "iu"
                                                                   or pi.min() < 0 or pi.max() >= self.n_inputs)):
            raise ValueError(f"conv: state 'pending_idx' / 'pending_t' must be equal-length integer arrays with "
                             f"indices in [0, {self.n_inputs})")
        for key in ("w", "v", "last_pre", "pool_mark"):
            getattr(self, key)[...] = a[key]
        self.step = None if int(step[0]) < 0 else int(step[0])
        self.pending_idx = pi.astype(np.int32)
        self.pending_t = pt.astype(np.int64)
        self._stats_w = self.w.copy()


def image_to_latency_spikes(image: np.ndarray, t0_us: int, dt_us: int, n_steps: int,
                            min_value: float = 0.0):
    """Intensity-to-latency coding (brightest first, SpykeTorch's ``Intensity2Latency``) of an image
    [C, H, W] into one spike per pixel above `min_value`: returns (idx, t_us) sorted by time."""
    img = np.asarray(image, np.float64)
    if img.ndim != 3:
        raise ValueError("image_to_latency_spikes: image must be [C, H, W]")
    if n_steps < 1:
        raise ValueError("image_to_latency_spikes: n_steps must be >= 1")
    flat = img.ravel()
    idx = np.flatnonzero(flat > min_value)
    if idx.size == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    vals = flat[idx]
    span = vals.max() - vals.min()
    rank = np.zeros_like(vals) if span == 0 else (vals.max() - vals) / span
    steps = np.minimum((rank * n_steps).astype(np.int64), n_steps - 1)
    order = np.lexsort((idx, steps))
    return idx[order].astype(np.int32), t0_us + steps[order] * dt_us


def events_to_spikes(events: np.ndarray, height: int, width: int):
    """Camera events (`spikestream.events.dtype.EVENT_DTYPE`, sorted by t) -> the conv layer's input spikes:
    ``idx = p*H*W + y*W + x`` (channel 0 = OFF, 1 = ON), ``t_us = t``. Events outside the frame raise."""
    names = getattr(events.dtype, "names", None) or ()
    if not {"x", "y", "t", "p"} <= set(names):
        raise ValueError("events_to_spikes: need a structured array with fields x, y, t, p (EVENT_DTYPE)")
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    p = (events["p"] > 0).astype(np.int64)
    if x.size and (x.max() >= width or y.max() >= height):
        raise ValueError(f"events_to_spikes: an event lies outside the {width}x{height} frame")
    return (p * height * width + y * width + x).astype(np.int32), events["t"].astype(np.int64)
