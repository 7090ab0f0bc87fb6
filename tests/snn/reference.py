"""Slow plain-numpy / pure-Python references for the SNN kernels. Written from the equations in
docs/snn.md, independently of the kernels' code."""

from __future__ import annotations

import math

import numpy as np

MASK = (1 << 64) - 1


def poisson_input(n, rate_hz, t_end_us, seed, t_start_us=0):
    """Sorted Poisson spike trains on n inputs in [t_start_us, t_end_us): (idx int64, t_us int64)."""
    rng = np.random.default_rng(seed)
    k = rng.poisson(n * rate_hz * (t_end_us - t_start_us) * 1e-6)
    t = np.sort(rng.integers(t_start_us, t_end_us, k)).astype(np.int64)
    return rng.integers(0, n, k).astype(np.int64), t


class RefRNG:
    """splitmix64 with Python ints."""

    def __init__(self, state: int):
        self.s = state & MASK

    def u64(self) -> int:
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self) -> float:
        return (self.u64() >> 11) / 2.0 ** 53

    def normal(self) -> float:
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def lif_step(v, w, syn, refr, theta, ibias, *, tau_m, e_l, v_th, v_reset, g_l=1.0, a=0.0, b=0.0, tau_w=0.0,
             e_exc=0.0, e_inh=-80.0, tau_exc=5.0, tau_inh=10.0, ref_steps=0, h=1.0, nsub=1):
    """One network step of the IF/LIF/ALIF family (exponential Euler), vectorised over neurons."""
    v, w, syn, refr = v.copy(), w.copy(), syn.copy(), refr.copy()
    spk = np.zeros(v.size, bool)
    refr = np.where(refr > 0, refr - 1, refr)
    for _ in range(nsub):
        ie, ii, ge, gi = syn
        free = refr == 0
        A = (g_l * e_l + ibias + ie - ii - w + ge * e_exc + gi * e_inh) / tau_m
        B = -(g_l + ge + gi) / tau_m
        with np.errstate(divide="ignore", invalid="ignore"):
            vinf = -A / B
            vn = np.where(B == 0, v + A * h, vinf + (v - vinf) * np.exp(B * h))
        vold = v
        v = np.where(free, vn, v)
        if tau_w > 0:
            winf = a * (vold - e_l)
            w = winf + (w - winf) * math.exp(-h / tau_w)
        syn = syn * np.array([math.exp(-h / tau_exc), math.exp(-h / tau_inh)] * 2)[:, None]
        fire = free & (v >= v_th + theta)
        spk |= fire
        v = np.where(fire, v_reset, v)
        w = np.where(fire, w + b, w)
        if ref_steps > 0:
            refr = np.where(fire, ref_steps, refr)
    return v, w, syn, refr, spk


def stdp_pair_window(dt_ms, a_plus, a_minus, tau_plus, tau_minus):
    """Weight change of one pre/post pair with t_post - t_pre = dt_ms (Song et al. 2000)."""
    if dt_ms > 0:
        return a_plus * math.exp(-dt_ms / tau_plus)
    if dt_ms < 0:
        return -a_minus * math.exp(dt_ms / tau_minus)
    return a_plus - 0.0  # simultaneous: pre processed first, so the pair counts as causal


def feedforward_lif_stdp(n_in, n_out, w0, delay, in_steps, in_idx, n_steps, *, tau_m, e_l, v_th, v_reset,
                         ref_steps, tau_exc, a_plus, a_minus, tau_plus, tau_minus, w_max, conductance=False,
                         e_exc=0.0):
    """Reference of one LIF layer fed all-to-all by the inputs with pair STDP (all-to-all traces, hard
    bounds), in the step order of docs/snn.md. Event lists in pure Python."""
    w = w0.astype(float).copy()            # [n_in, n_out]
    v = np.full(n_out, e_l)
    wa = np.zeros(n_out)
    syn = np.zeros((4, n_out))
    refr = np.zeros(n_out, int)
    xpre = np.zeros(n_in)
    ypost = np.zeros(n_out)
    pending: dict[int, np.ndarray] = {}
    ch = 2 if conductance else 0
    by_step: dict[int, list[int]] = {}
    for s, i in zip(in_steps, in_idx):
        by_step.setdefault(int(s), []).append(int(i))
    out = []
    dp, dm = math.exp(-1.0 / tau_plus), math.exp(-1.0 / tau_minus)
    for step in range(n_steps):
        v, wa, syn, refr, spk = lif_step(v, wa, syn, refr, np.zeros(n_out), np.zeros(n_out), tau_m=tau_m,
                                         e_l=e_l, v_th=v_th, v_reset=v_reset, ref_steps=ref_steps,
                                         tau_exc=tau_exc, e_exc=e_exc)
        if step in pending:
            syn[ch] += pending.pop(step)
        xpre *= dp
        ypost *= dm
        for i in by_step.get(step, []):
            if delay == 0:
                syn[ch] += w[i]
            else:
                pending[step + delay] = pending.get(step + delay, np.zeros(n_out)) + w[i]
            w[i] = np.clip(w[i] - a_minus * ypost, 0.0, w_max)
            xpre[i] += 1.0
        for j in np.nonzero(spk)[0]:
            w[:, j] = np.clip(w[:, j] + a_plus * xpre, 0.0, w_max)
            ypost[j] += 1.0
            out.append((step, j))
    return out, w
