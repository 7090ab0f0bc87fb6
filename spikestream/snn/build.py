"""NetSpec -> flat arrays: the static structure (`Net`) and the initial dynamic state (`State`).

Neurons get global indices: the external inputs first (0 .. n_inputs-1), then each layer in order.
Synapses are stored per projection, sorted by (pre, post). Weights of all projections share one array
`w` (global synapse id k). A *sparse* projection also keeps post index, pre index and delay per synapse
(arrays indexed by k + proj_sp_off - proj_syn_lo): a forward CSR by pre-synaptic neuron and, for plastic or
normalised projections, a reverse index by post-synaptic neuron (synapse ids sorted by (post, pre)).
A *dense* projection (all_to_all with one delay) keeps only its weights, post-major:
k = syn_lo + j * n_pre + i, so a post-synaptic spike's potentiation runs over contiguous memory (the public
accessors transpose back to (pre, post) order).
A neuron's outgoing (incoming) synapses are listed as segments, one per projection.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from spikestream.snn._rng import seed_state
from spikestream.snn.connect import Ctx, connect
from spikestream.snn.learning import N_PP, PC, R_NONE
from spikestream.snn.neuron import (C_DEXC, C_DINH, C_DT, C_EEXC, C_EINH, C_H, C_NOISE, C_NSUB, C_REF,
                                    C_THETA_DECAY, C_THETA_PLUS, C_WTA, N_COMMON, N_PM, N_VARS,
                                    substeps)
from spikestream.snn.spec import INPUT, NetSpec
from spikestream.snn.steps import refractory_steps
from spikestream.snn.weights import init_delays, init_weights

Net = namedtuple("Net", [
    "n_inputs", "n_neurons", "n_out", "any_plastic", "any_per_step",
    "layer_code", "layer_lo", "layer_hi", "layer_pm", "layer_pc",
    "syn_pre", "syn_post", "syn_delay",
    "out_seg_ptr", "out_seg_proj", "out_seg_lo", "out_seg_hi",
    "in_seg_ptr", "in_seg_proj", "in_seg_lo", "in_seg_hi", "rev_syn", "rev_pre",
    "proj_rule", "proj_chan", "proj_pp", "proj_pre_lo", "proj_post_lo", "proj_n_pre", "proj_n_post",
    "proj_syn_lo", "proj_syn_hi", "proj_x_off", "proj_y_off", "proj_e_off",
    "proj_dense", "proj_delay", "proj_sp_off",
    "out_map",
])

State = namedtuple("State", ["S", "syn", "refr", "flag", "theta", "ibias", "ring", "ring_used", "w", "elig",
                             "x1", "x2", "y1", "y2", "dopa", "rng", "count", "rho"])

#: Receptor channel rows of `syn`: current exc/inh, conductance exc/inh.
CHANNELS = {("exp_current", "exc"): 0, ("exp_current", "inh"): 1, ("conductance", "exc"): 2,
            ("conductance", "inh"): 3}
SYN_NAMES = ("i_exc", "i_inh", "g_exc", "g_inh")


class Layout:
    """Where things are: layer and projection ranges by name (Python side only)."""

    def __init__(self) -> None:
        self.layers: dict[str, tuple[int, int]] = {}
        self.projections: dict[str, dict] = {}


def _segments(g: np.ndarray, proj: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int):
    order = np.argsort(g, kind="stable")
    counts = np.bincount(g, minlength=n)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, proj[order].astype(np.int64), lo[order].astype(np.int64), hi[order].astype(np.int64)


def build(spec: NetSpec) -> tuple[Net, State, Layout]:
    dt_ms = spec.dt_ms
    lay = Layout()
    n_in = spec.n_inputs
    lay.layers[INPUT] = (0, n_in)
    lo = n_in
    L = len(spec.layers)
    code = np.zeros(L, np.int64)
    llo = np.zeros(L, np.int64)
    lhi = np.zeros(L, np.int64)
    pm = np.zeros((L, N_PM))
    pc = np.zeros((L, N_COMMON))
    for i, ls in enumerate(spec.layers):
        lay.layers[ls.name] = (lo, lo + ls.n)
        code[i], llo[i], lhi[i] = ls.model.code, lo, lo + ls.n
        c = ls.common
        nsub, h = substeps(dt_ms, c["substep_ms"])
        if nsub > 10_000:
            raise ValueError(f"layer {ls.name!r}: substep_ms = {c['substep_ms']} splits each {dt_ms} ms step into "
                             f"{nsub} sub-steps (max 10000)")
        pm[i] = ls.pm  # packed (and checked) when the description was parsed
        pc[i, C_DEXC] = np.exp(-h / c["tau_exc_ms"])
        pc[i, C_DINH] = np.exp(-h / c["tau_inh_ms"])
        pc[i, C_EEXC], pc[i, C_EINH] = c["e_exc"], c["e_inh"]
        pc[i, C_REF] = refractory_steps(c["t_ref_ms"], dt_ms)
        pc[i, C_NOISE], pc[i, C_NSUB], pc[i, C_H] = c["noise"], nsub, h
        pc[i, C_THETA_PLUS] = c["theta_plus"]
        pc[i, C_THETA_DECAY] = np.exp(-dt_ms / c["tau_theta_ms"]) if c["tau_theta_ms"] > 0 else 1.0
        pc[i, C_WTA], pc[i, C_DT] = c["wta_k"], dt_ms
        lo += ls.n
    N = lo

    # initial state of the neurons
    S = np.zeros((N_VARS, N))
    ibias = np.zeros(N)
    for li, ls in enumerate(spec.layers):
        a, b = lay.layers[ls.name]
        irng = np.random.default_rng([spec.seed, li, 3])
        for r, var in enumerate(ls.model.variables):
            v = ls.init[var]
            S[r, a:b] = irng.uniform(v[0], v[1], b - a) if isinstance(v, tuple) else v
        ibias[a:b] = ls.common["i_bias"]

    # projections
    P = len(spec.connections)
    shapes = {ls.name: ls.shape for ls in spec.layers}
    pres, posts, ws, ds = [], [], [], []
    proj = {k: np.zeros(P, np.int64) for k in ("rule", "chan", "pre_lo", "post_lo", "n_pre", "n_post",
                                               "syn_lo", "syn_hi", "x_off", "y_off", "e_off", "dense", "delay",
                                               "sp_off")}
    pp = np.zeros((P, N_PP))
    s0 = x_off = y_off = e_off = sp0 = 0
    for p, cs in enumerate(spec.connections):
        what = f"connection {cs.name!r}"
        a_pre, b_pre = lay.layers[cs.pre]
        a_post, b_post = lay.layers[cs.post]
        n_pre, n_post = b_pre - a_pre, b_post - a_post
        ctx = Ctx(n_pre, n_post, shapes.get(cs.pre), shapes.get(cs.post), cs.pre == cs.post,
                  np.random.default_rng([spec.seed, p, 1]))
        try:
            pre, post = connect(cs.rule, ctx, cs.rule_params)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None
        crng = np.random.default_rng([spec.seed, p, 2])
        w = init_weights(cs.weight, pre.size, crng, what)
        d = init_delays(cs.delay_ms, pre.size, dt_ms, crng, what)
        eligible = (cs.rule == "all_to_all" and pre.size == n_pre * n_post
                    and not isinstance(cs.delay_ms, dict))
        if cs.storage == "dense" and not eligible:
            raise ValueError(f"{what}: storage = \"dense\" needs rule all_to_all (self-connections allowed "
                             f"when pre == post) and a single delay_ms")
        dense = eligible and cs.storage != "sparse"
        rule = cs.plasticity_code  # built (and checked) when the description was parsed
        if cs.plasticity is not None:
            pp[p] = cs.plasticity_pp
            w = np.clip(w, pp[p, PC.w_min], pp[p, PC.w_max])
        else:
            pp[p, PC.w_min], pp[p, PC.w_max] = 0.0, np.inf
        if cs.normalize is not None:
            pp[p, PC.norm_target] = cs.normalize["target"]
            pp[p, PC.norm_every] = max(1, int(round(cs.normalize["every_ms"] / dt_ms)))
        proj["rule"][p] = rule
        proj["chan"][p] = CHANNELS[(cs.synapse, cs.receptor)]
        proj["pre_lo"][p], proj["post_lo"][p] = a_pre, a_post
        proj["n_pre"][p], proj["n_post"][p] = n_pre, n_post
        proj["syn_lo"][p], proj["syn_hi"][p] = s0, s0 + pre.size
        proj["x_off"][p], proj["y_off"][p], proj["e_off"][p] = x_off, y_off, e_off
        if rule != R_NONE:
            x_off += n_pre
            y_off += n_post
        if rule != R_NONE and pp[p, PC.elig] != 0.0:  # a rule whose changes go to an eligibility
            e_off += pre.size
        proj["dense"][p] = dense
        proj["delay"][p] = d[0] if d.size else 0
        proj["sp_off"][p] = sp0
        lay.projections[cs.name] = {"index": p, "pre": cs.pre, "post": cs.post, "lo": s0, "hi": s0 + pre.size,
                                    "dense": dense, "sp_lo": sp0, "sp_hi": sp0 + (0 if dense else pre.size),
                                    "delay": int(proj["delay"][p])}
        if not dense:
            pres.append(pre + a_pre)
            posts.append(post + a_post)
            ds.append(d)
            sp0 += pre.size
        ws.append(w.reshape(n_pre, n_post).T.ravel() if dense else w)
        s0 += pre.size
    syn_pre = np.concatenate(pres).astype(np.int32) if pres else np.zeros(0, np.int32)
    syn_post = np.concatenate(posts).astype(np.int32) if posts else np.zeros(0, np.int32)
    w = np.concatenate(ws).astype(np.float64) if ws else np.zeros(0)
    delay = np.concatenate(ds).astype(np.int16) if ds else np.zeros(0, np.int16)

    # forward segments: one per (pre neuron, projection)
    g_l, p_l, lo_l, hi_l = [], [], [], []
    gi_l, pi_l, loi_l, hii_l, rev_l = [], [], [], [], []
    r0 = 0
    for p in range(P):
        a, b = proj["syn_lo"][p], proj["syn_hi"][p]
        n_pre, n_post = proj["n_pre"][p], proj["n_post"][p]
        needs_rev = proj["rule"][p] != R_NONE or pp[p, PC.norm_every] > 0
        g_l.append(proj["pre_lo"][p] + np.arange(n_pre))
        p_l.append(np.full(n_pre, p))
        if needs_rev:
            gi_l.append(proj["post_lo"][p] + np.arange(n_post))
            pi_l.append(np.full(n_post, p))
        if proj["dense"][p]:  # segment = the first weight of pre neuron i's column, stride n_pre
            lo = a + np.arange(n_pre)
            lo_l.append(lo)
            hi_l.append(lo)
            if needs_rev:  # strided access, no index arrays
                loi_l.append(np.zeros(n_post, np.int64))
                hii_l.append(np.zeros(n_post, np.int64))
            continue
        sa, sb = proj["sp_off"][p], proj["sp_off"][p] + (b - a)
        ptr = np.searchsorted(syn_pre[sa:sb], proj["pre_lo"][p] + np.arange(n_pre + 1)) + a
        lo_l.append(ptr[:-1])
        hi_l.append(ptr[1:])
        if needs_rev:
            order = np.lexsort((syn_pre[sa:sb], syn_post[sa:sb]))
            rev_l.append(order + a)
            rptr = np.searchsorted(syn_post[sa:sb][order], proj["post_lo"][p] + np.arange(n_post + 1)) + r0
            loi_l.append(rptr[:-1])
            hii_l.append(rptr[1:])
            r0 += b - a
    cat = lambda xs, dt=np.int64: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    out_seg = _segments(cat(g_l), cat(p_l), cat(lo_l), cat(hi_l), N)
    in_seg = _segments(cat(gi_l), cat(pi_l), cat(loi_l), cat(hii_l), N)
    rev_syn = cat(rev_l, np.int32)
    if s0 >= 2**31 - 1:
        raise ValueError(f"{s0} synapses: more than this engine indexes (2**31 - 1)")
    # the pre neuron of each reverse entry (global k -> sparse index of its projection)
    sp_of = np.zeros(rev_syn.size, np.int64)
    if rev_syn.size:
        pk = np.searchsorted(proj["syn_lo"], rev_syn, side="right") - 1
        sp_of = rev_syn.astype(np.int64) - proj["syn_lo"][pk] + proj["sp_off"][pk]
    rev_pre = syn_pre[sp_of].astype(np.int32)

    out_map = np.full(N, -1, np.int64)
    k = 0
    for name in spec.outputs:
        a, b = lay.layers[name]
        if name == INPUT:  # passed through by SNN.advance, not emitted by the kernel
            k += b - a
            continue
        out_map[a:b] = np.arange(k, k + b - a)
        k += b - a

    D = max(int(delay.max()) if delay.size else 0, int(proj["delay"].max()) if P else 0) + 1
    if D * 4 * N > 1 << 27:
        raise ValueError(f"the delay ring buffer ({D} steps x 4 x {N} neurons) would exceed 1 GiB; "
                         f"use shorter delays or a larger dt")
    any_per_step = bool(np.any(pp[:, PC.elig] != 0) or np.any(pp[:, PC.norm_every] > 0))  # R-STDP, normalisation
    net = Net(n_in, N, k, bool(np.any(proj["rule"] != R_NONE)), any_per_step, code, llo, lhi, pm, pc,
              syn_pre, syn_post, delay, *out_seg, *in_seg, rev_syn, rev_pre,
              proj["rule"], proj["chan"], pp, proj["pre_lo"], proj["post_lo"], proj["n_pre"], proj["n_post"],
              proj["syn_lo"], proj["syn_hi"], proj["x_off"], proj["y_off"], proj["e_off"],
              proj["dense"], proj["delay"], proj["sp_off"], out_map)
    st = State(S, np.zeros((4, N)), np.zeros(N, np.int32), np.zeros(N, np.int8), np.zeros(N), ibias,
               np.zeros((D, 4, N)), np.zeros((D, 4), np.int8), w, np.zeros(e_off), np.zeros(x_off),
               np.zeros(x_off), np.zeros(y_off), np.zeros(y_off), np.zeros(P), seed_state(spec.seed),
               np.zeros(N, np.int64), _initial_rates(proj["rule"], pp, proj["y_off"], proj["n_post"], y_off))
    return net, st, lay


def _initial_rates(rule: np.ndarray, pp: np.ndarray, y_off: np.ndarray, n_post: np.ndarray, n: int) -> np.ndarray:
    """`State.rho`, the running post rates of the projections whose rule keeps one (stdp_bcm; Hz, one per
    post trace), starting at the rule's reference rate; unused (0) for the other rules."""
    rho = np.zeros(n)
    for p in np.flatnonzero((rule != R_NONE) & (pp[:, PC.rate] != 0)):
        rho[y_off[p]:y_off[p] + n_post[p]] = pp[p, PC.rate0]
    return rho
