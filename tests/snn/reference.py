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
        for i in by_step.get(step, []):  # transmission of the step's spikes first ...
            if delay == 0:
                syn[ch] += w[i]
            else:
                pending[step + delay] = pending.get(step + delay, np.zeros(n_out)) + w[i]
        for i in by_step.get(step, []):  # ... then their plasticity
            w[i] = np.clip(w[i] - a_minus * ypost, 0.0, w_max)
            xpre[i] += 1.0
        for j in np.nonzero(spk)[0]:
            w[:, j] = np.clip(w[:, j] + a_plus * xpre, 0.0, w_max)
            ypost[j] += 1.0
            out.append((step, j))
    return out, w


# ---------------------------------------------------------------------------------------- other models
def _syn_decay(syn, h, tau_exc, tau_inh):
    return syn * np.array([math.exp(-h / tau_exc), math.exp(-h / tau_inh)] * 2)[:, None]


def _cur(v, syn, ibias, e_exc, e_inh):
    return ibias + syn[0] - syn[1] + syn[2] * (e_exc - v) + syn[3] * (e_inh - v)


def _ee(x, a, b, h):
    """exponential Euler: dx/dt = a + b x, a and b frozen."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, x + a * h, -a / b + (x + a / b) * np.exp(b * h))


def reset_model_step(model, X, syn, refr, theta, ibias, p, *, e_exc, e_inh, tau_exc=5.0, tau_inh=10.0,
                     ref_steps=0, h=0.1, nsub=10):
    """AdEx or Izhikevich: forward Euler sub-steps, reset at v_peak. X = (v, second variable)."""
    v, u = X[0].copy(), X[1].copy()
    syn, refr = syn.copy(), refr.copy()
    refr = np.where(refr > 0, refr - 1, refr)
    spk = np.zeros(v.size, bool)
    for _ in range(nsub):
        free = refr == 0
        I = _cur(v, syn, ibias, e_exc, e_inh)
        if model == "adex":
            x = np.minimum((v - p["v_t"]) / p["delta_t"], 30.0)
            dv = (-p["g_l_ns"] * (v - p["e_l"]) + p["g_l_ns"] * p["delta_t"] * np.exp(x) - u + I) / p["c_pf"]
            du = (p["a_ns"] * (v - p["e_l"]) - u) / p["tau_w_ms"]
            reset, jump, peak = p["v_reset"], p["b_pa"], p["v_peak"]
        else:
            dv = 0.04 * v * v + 5 * v + 140 - u + I
            du = p["a"] * (p["b"] * v - u)
            reset, jump, peak = p["c"], p["d"], p["v_peak"]
        v = np.where(free, v + h * dv, v)
        u = u + h * du
        syn = _syn_decay(syn, h, tau_exc, tau_inh)
        fire = free & (v >= peak + theta)
        spk |= fire
        v = np.where(fire, reset, v)
        u = np.where(fire, u + jump, u)
        if ref_steps:
            refr = np.where(fire, ref_steps, refr)
    return np.array([v, u]), syn, refr, spk


def hh_rates(v):
    def vtrap(x, y):
        r = x / y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.abs(r) < 1e-6, y * (1 - r / 2), x / np.expm1(r))
    return (0.1 * vtrap(-(v + 40), 10.0), 4 * np.exp(-(v + 65) / 18), 0.07 * np.exp(-(v + 65) / 20),
            1 / (1 + np.exp(-(v + 35) / 10)), 0.01 * vtrap(-(v + 55), 10.0), 0.125 * np.exp(-(v + 65) / 80))


def crossing_model_step(model, X, syn, flag, theta, ibias, p, *, e_exc, e_inh, tau_exc=5.0, tau_inh=10.0,
                        h, nsub):
    """HH (exponential Euler / Rush-Larsen), FHN, Morris-Lecar, Hindmarsh-Rose (forward Euler)."""
    X = X.copy()
    syn, flag = syn.copy(), flag.copy()
    spk = np.zeros(X.shape[1], bool)
    for _ in range(nsub):
        v = X[0]
        I = _cur(v, syn, ibias, e_exc, e_inh)
        if model == "hh":
            m, hg, n = X[1], X[2], X[3]
            am, bm, ah, bh, an, bn = hh_rates(v)
            gna, gk = p["g_na"] * m ** 3 * hg, p["g_k"] * n ** 4
            A = (ibias + syn[0] - syn[1] + gna * p["e_na"] + gk * p["e_k"] + p["g_l"] * p["e_l"]
                 + syn[2] * e_exc + syn[3] * e_inh) / p["c_uf"]
            B = -(gna + gk + p["g_l"] + syn[2] + syn[3]) / p["c_uf"]
            X = np.array([_ee(v, A, B, h), _ee(m, am, -(am + bm), h), _ee(hg, ah, -(ah + bh), h),
                          _ee(n, an, -(an + bn), h)])
            th = p["v_th"]
        elif model == "fhn":
            w = X[1]
            hm = h / p["time_scale_ms"]
            X = np.array([v + hm * (v - v ** 3 / 3 - w + I), w + hm * (v + p["a"] - p["b"] * w) / p["tau"]])
            th = p["v_th"]
        elif model == "morris_lecar":
            w = X[1]
            m_inf = 0.5 * (1 + np.tanh((v - p["v1"]) / p["v2"]))
            w_inf = 0.5 * (1 + np.tanh((v - p["v3"]) / p["v4"]))
            dv = (I - p["g_l"] * (v - p["e_l"]) - p["g_ca"] * m_inf * (v - p["e_ca"])
                  - p["g_k"] * w * (v - p["e_k"])) / p["c_uf"]
            dw = p["phi"] * (w_inf - w) * np.cosh((v - p["v3"]) / (2 * p["v4"]))
            X = np.array([v + h * dv, w + h * dw])
            th = p["v_th"]
        else:  # hindmarsh_rose
            x, y, z = X
            hm = h / p["time_scale_ms"]
            X = np.array([x + hm * (y - p["a"] * x ** 3 + p["b"] * x ** 2 - z + I),
                          y + hm * (p["c"] - p["d"] * x ** 2 - y),
                          z + hm * p["r"] * (p["s"] * (x - p["x_r"]) - z)])
            th = p["x_th"]
        syn = _syn_decay(syn, h, tau_exc, tau_inh)
        up = (X[0] >= th + theta) & (flag == 0)
        spk |= up
        flag = np.where(up, 1, np.where(X[0] < th, 0, flag))
    return X, syn, flag, spk


def triplet_dw(pre_ms, post_ms, *, a2p, a3p, a2m, a3m, tau_plus, tau_minus, tau_x, tau_y, nearest=False, bcm=None):
    """Total weight change of one synapse under triplet STDP (Pfister & Gerstner 2006), evaluated with exact
    exponentials over the spike lists (ms). Simultaneous pre and post: pre first. No bounds. `bcm`: None, or
    (tau_rate, rho0, rho_init, t0) for BCM's sliding threshold (`bcm_dw`)."""
    events = sorted([(t, 0) for t in pre_ms] + [(t, 1) for t in post_ms])
    r1 = r2 = o1 = o2 = 0.0
    tau_rate, rho0, rho, last = bcm if bcm else (None, None, None, None)
    dw = 0.0
    for t, kind in events:
        if last is not None:
            dt = t - last
            r1 *= math.exp(-dt / tau_plus)
            r2 *= math.exp(-dt / tau_x)
            o1 *= math.exp(-dt / tau_minus)
            o2 *= math.exp(-dt / tau_y)
            if bcm:
                rho *= math.exp(-dt / tau_rate)
        last = t
        if kind == 0:
            dw -= o1 * ((a2m * rho ** 2 / rho0 ** 2 if bcm else a2m) + a3m * r2)
            r1, r2 = (1.0, 1.0) if nearest else (r1 + 1, r2 + 1)
        else:
            dw += r1 * (a2p + a3p * o2)
            o1, o2 = (1.0, 1.0) if nearest else (o1 + 1, o2 + 1)
            if bcm:
                rho += 1000.0 / tau_rate
    return dw


def ring_spikes(seconds, shift, seed, t0_us=0, ring=8, per=2, step_us=25_000):
    """Spikes (idx, t_us) from a ring of `ring` electrodes, `per` neurons each, for `seconds` of five
    'gestures' held 2 s each, every electrode at its own level per gesture (as muscles around a forearm);
    the ring is rotated by `shift` electrodes as ``np.roll(x, shift, axis=1)`` rotates an armband's data."""
    levels = np.random.default_rng(0).uniform(0.5, 12.0, (5, ring))
    rng = np.random.default_rng(seed)
    idx, ts = [], []
    for k in range(int(seconds * 1e6) // step_us):
        g = (k * step_us // 2_000_000 + seed) % len(levels)
        n = rng.poisson(np.repeat(np.roll(levels[g], shift), per))
        i = np.repeat(np.arange(ring * per), n)
        t = t0_us + k * step_us + rng.integers(0, step_us, i.size)
        o = np.argsort(t, kind="stable")
        idx.append(i[o])
        ts.append(t[o])
    return np.concatenate(idx), np.concatenate(ts)


def bcm_dw(pre_ms, post_ms, *, a2p, a3p, a2m, a3m, tau_plus, tau_minus, tau_x, tau_y, tau_rate, rho0, rho_init,
           t0=0.0):
    """Total weight change of one synapse under triplet STDP with BCM's sliding threshold (Pfister & Gerstner
    2006, minimal model; Clopath et al. 2010): at a pre spike w -= o1 (a2m rho**2 / rho0**2 + a3m r2), where
    the post neuron's running rate rho (Hz) obeys d rho/dt = -rho / tau_rate + sum_k delta(t - t_post_k)
    (each post spike adds 1000 / tau_rate Hz, tau_rate in ms), starting at rho_init. Exact exponentials over
    the spike lists (ms), all-to-all; rho is rho_init at t = t0 (ms); simultaneous pre and post: pre first.
    No bounds."""
    return triplet_dw(pre_ms, post_ms, a2p=a2p, a3p=a3p, a2m=a2m, a3m=a3m, tau_plus=tau_plus, tau_minus=tau_minus,
                      tau_x=tau_x, tau_y=tau_y, bcm=(tau_rate, rho0, rho_init, t0))
