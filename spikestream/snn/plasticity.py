"""Plasticity kernels: what a pre- or post-synaptic spike does to weights, traces and eligibilities,
and the per-step parts (trace decay, reward-modulated updates, weight normalisation).

Order within a network step (see docs/snn.md): traces decay; rewards arrive; pre-synaptic spikes
(depression with the post traces as they were, then pre traces += 1); post-synaptic spikes (potentiation
with the pre traces including this step's spikes, then post traces += 1); R-STDP weight update;
normalisation.
"""

import numpy as np
from numba import njit

from spikestream.snn.learning import (P_A3MINUS, P_A3PLUS, P_AMINUS, P_APLUS, P_DELIG, P_DREW, P_DX1, P_DX2,
                                      P_DY1, P_DY2, P_LR, P_NEAREST, P_NORM_EVERY, P_NORM_TARGET, P_RCH,
                                      P_SOFT, P_WMAX, P_WMIN, R_NONE, R_PAIR, R_RSTDP, R_TRIPLET)


@njit(cache=True)
def _clip(w, lo, hi):
    if w < lo:
        return lo
    if w > hi:
        return hi
    return w


@njit(cache=True)
def decay_traces(net, st):
    for p in range(net.proj_rule.shape[0]):
        if net.proj_rule[p] == R_NONE:
            continue
        pp = net.proj_pp[p]
        a = net.proj_x_off[p]
        dx1, dx2 = pp[P_DX1], pp[P_DX2]
        for i in range(a, a + net.proj_n_pre[p]):
            st.x1[i] *= dx1
            st.x2[i] *= dx2
        a = net.proj_y_off[p]
        dy1, dy2 = pp[P_DY1], pp[P_DY2]
        for j in range(a, a + net.proj_n_post[p]):
            st.y1[j] *= dy1
            st.y2[j] *= dy2


@njit(cache=True)
def on_pre(net, st, p, g, lo, hi, learning):
    """Pre-synaptic neuron g spiked; its synapses in projection p are lo..hi-1."""
    rule = net.proj_rule[p]
    pp = net.proj_pp[p]
    xi = net.proj_x_off[p] + g - net.proj_pre_lo[p]
    yoff = net.proj_y_off[p] - net.proj_post_lo[p]
    wmin, wmax = pp[P_WMIN], pp[P_WMAX]
    if learning:
        if rule == R_PAIR:
            am = pp[P_AMINUS]
            if pp[P_SOFT] != 0.0:
                for k in range(lo, hi):
                    w = st.w[k]
                    st.w[k] = _clip(w - am * st.y1[yoff + net.syn_post[k]] * (w - wmin), wmin, wmax)
            else:
                for k in range(lo, hi):
                    st.w[k] = _clip(st.w[k] - am * st.y1[yoff + net.syn_post[k]], wmin, wmax)
        elif rule == R_TRIPLET:
            am = pp[P_AMINUS] + pp[P_A3MINUS] * st.x2[xi]
            for k in range(lo, hi):
                st.w[k] = _clip(st.w[k] - am * st.y1[yoff + net.syn_post[k]], wmin, wmax)
        elif rule == R_RSTDP:
            am = pp[P_AMINUS]
            e = net.proj_e_off[p] - net.proj_syn_lo[p]
            for k in range(lo, hi):
                st.elig[e + k] -= am * st.y1[yoff + net.syn_post[k]]
    if pp[P_NEAREST] != 0.0:
        st.x1[xi] = 1.0
        st.x2[xi] = 1.0
    else:
        st.x1[xi] += 1.0
        st.x2[xi] += 1.0


@njit(cache=True)
def on_post(net, st, p, g, lo, hi, learning):
    """Post-synaptic neuron g spiked; its incoming synapses of projection p are rev_syn[lo..hi-1]."""
    rule = net.proj_rule[p]
    if rule == R_NONE:
        return
    pp = net.proj_pp[p]
    yj = net.proj_y_off[p] + g - net.proj_post_lo[p]
    xoff = net.proj_x_off[p] - net.proj_pre_lo[p]
    wmin, wmax = pp[P_WMIN], pp[P_WMAX]
    if learning:
        if rule == R_PAIR:
            ap = pp[P_APLUS]
            if pp[P_SOFT] != 0.0:
                for r in range(lo, hi):
                    k = net.rev_syn[r]
                    w = st.w[k]
                    st.w[k] = _clip(w + ap * st.x1[xoff + net.syn_pre[k]] * (wmax - w), wmin, wmax)
            else:
                for r in range(lo, hi):
                    k = net.rev_syn[r]
                    st.w[k] = _clip(st.w[k] + ap * st.x1[xoff + net.syn_pre[k]], wmin, wmax)
        elif rule == R_TRIPLET:
            ap = pp[P_APLUS] + pp[P_A3PLUS] * st.y2[yj]
            for r in range(lo, hi):
                k = net.rev_syn[r]
                st.w[k] = _clip(st.w[k] + ap * st.x1[xoff + net.syn_pre[k]], wmin, wmax)
        elif rule == R_RSTDP:
            ap = pp[P_APLUS]
            e = net.proj_e_off[p] - net.proj_syn_lo[p]
            for r in range(lo, hi):
                k = net.rev_syn[r]
                st.elig[e + k] += ap * st.x1[xoff + net.syn_pre[k]]
    if pp[P_NEAREST] != 0.0:
        st.y1[yj] = 1.0
        st.y2[yj] = 1.0
    else:
        st.y1[yj] += 1.0
        st.y2[yj] += 1.0


@njit(cache=True)
def reward(net, st, channel, value):
    for p in range(net.proj_rule.shape[0]):
        if net.proj_rule[p] == R_RSTDP and int(net.proj_pp[p, P_RCH]) == channel:
            st.dopa[p] += value


@njit(cache=True)
def per_step(net, st, step, learning):
    """R-STDP weight updates and decays; periodic weight normalisation."""
    for p in range(net.proj_rule.shape[0]):
        pp = net.proj_pp[p]
        lo, hi = net.proj_syn_lo[p], net.proj_syn_hi[p]
        if net.proj_rule[p] == R_RSTDP:
            d = st.dopa[p]
            e = net.proj_e_off[p] - lo
            de = pp[P_DELIG]
            if learning and d != 0.0:
                g = pp[P_LR] * d
                wmin, wmax = pp[P_WMIN], pp[P_WMAX]
                for k in range(lo, hi):
                    st.w[k] = _clip(st.w[k] + g * st.elig[e + k], wmin, wmax)
            for k in range(lo, hi):
                st.elig[e + k] *= de
            st.dopa[p] = d * pp[P_DREW]
        every = int(pp[P_NORM_EVERY])
        if learning and every > 0 and (step + 1) % every == 0:
            _normalize(net, st, p, pp[P_NORM_TARGET], pp[P_WMIN], pp[P_WMAX])


@njit(cache=True)
def _normalize(net, st, p, target, wmin, wmax):
    a = net.proj_post_lo[p]
    for g in range(a, a + net.proj_n_post[p]):
        for sg in range(net.in_seg_ptr[g], net.in_seg_ptr[g + 1]):
            if net.in_seg_proj[sg] != p:
                continue
            lo, hi = net.in_seg_lo[sg], net.in_seg_hi[sg]
            s = 0.0
            for r in range(lo, hi):
                s += st.w[net.rev_syn[r]]
            if s > 0.0:
                f = target / s
                for r in range(lo, hi):
                    k = net.rev_syn[r]
                    st.w[k] = _clip(st.w[k] * f, wmin, wmax)
