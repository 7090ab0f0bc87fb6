"""The network step loop: one jitted call advances the whole network by many steps.

Per step: (1) every layer's neurons integrate one step (their kernel chosen by model code);
(2) k-WTA and adaptive thresholds; the step's spikes are listed; (3) synapses: delayed input arriving this
step is added to the synaptic variables, traces decay, rewards arrive, external input spikes then the
network's spikes are sent (delay 0: at once; delay d: into ring-buffer slot step+d) with their plasticity,
post-synaptic plasticity, per-step learning; (4) output spikes and recordings are written.
"""

import numpy as np
from numba import njit

from spikestream.snn.model_adex import step_adex
from spikestream.snn.model_hh import step_hh
from spikestream.snn.model_hr import step_hr
from spikestream.snn.model_izhikevich import step_izhikevich
from spikestream.snn.model_lif import step_lif
from spikestream.snn.model_planar import step_fhn, step_ml
from spikestream.snn.model_poisson import step_poisson
from spikestream.snn.neuron import (C_THETA_DECAY, C_THETA_PLUS, C_WTA, M_ADEX, M_FHN, M_HH, M_HR, M_IZH,
                                    M_LIF, M_ML, M_POISSON)
from spikestream.snn.plasticity import decay_traces, on_post, on_pre, per_step, reward
from spikestream.snn.learning import R_NONE

#: rec_src codes: 0..3 state variable rows, 4..7 synaptic channels, 8 adaptive threshold.
REC_SYN, REC_THETA = 4, 8


@njit(cache=True)
def _update_layer(net, st, l, spk, vpk):
    code = net.layer_code[l]
    lo, hi = net.layer_lo[l], net.layer_hi[l]
    pm, pc = net.layer_pm[l], net.layer_pc[l]
    if code == M_LIF:
        step_lif(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)
    elif code == M_ADEX:
        step_adex(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)
    elif code == M_IZH:
        step_izhikevich(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)
    elif code == M_HH:
        step_hh(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)
    elif code == M_FHN:
        step_fhn(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)
    elif code == M_ML:
        step_ml(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)
    elif code == M_HR:
        step_hr(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)
    elif code == M_POISSON:
        step_poisson(lo, hi, st.S, st.syn, st.refr, st.flag, st.theta, st.ibias, pm, pc, st.rng, spk, vpk)


@njit(cache=True)
def _wta(spk, vpk, lo, hi, k):
    """Keep the k spikes with the largest value at threshold crossing (ties: lower index)."""
    n = 0
    for i in range(lo, hi):
        n += spk[i]
    while n > k:
        worst = -1
        for i in range(lo, hi):
            if spk[i] and (worst < 0 or vpk[i] <= vpk[worst]):
                worst = i
        spk[worst] = 0
        n -= 1


@njit(cache=True)
def _send(net, st, g, step, learning):
    D = st.ring.shape[0]
    for sg in range(net.out_seg_ptr[g], net.out_seg_ptr[g + 1]):
        p = net.out_seg_proj[sg]
        lo, hi = net.out_seg_lo[sg], net.out_seg_hi[sg]
        ch = net.proj_chan[p]
        for k in range(lo, hi):
            d = net.syn_delay[k]
            if d == 0:
                st.syn[ch, net.syn_post[k]] += st.w[k]
            else:
                st.ring[(step + d) % D, ch, net.syn_post[k]] += st.w[k]
        if net.proj_rule[p] != R_NONE:
            on_pre(net, st, p, g, lo, hi, learning)


@njit(cache=True)
def run(net, st, step0, n_steps, in_step, in_idx, rw_step, rw_ch, rw_val, learning,
        out_step, out_idx, rec_src, rec_idx, rec_buf, spk, vpk, spikes):
    """Advance from absolute step `step0` by up to `n_steps` steps.

    Returns (steps done, output spikes written, input spikes consumed, rewards consumed); stops early
    (at a step boundary) when the output buffer could overflow."""
    N = net.n_neurons
    D = st.ring.shape[0]
    n_layers = net.layer_code.shape[0]
    cap = out_step.shape[0]
    n_out = 0
    ii = 0
    ri = 0
    for s in range(n_steps):
        if n_out + net.n_out > cap:
            return s, n_out, ii, ri
        step = step0 + s
        # (1) neurons
        for l in range(n_layers):
            _update_layer(net, st, l, spk, vpk)
        # (2) winners, thresholds, the step's spike list
        nsp = 0
        for l in range(n_layers):
            lo, hi = net.layer_lo[l], net.layer_hi[l]
            pc = net.layer_pc[l]
            k = int(pc[C_WTA])
            if k > 0:
                _wta(spk, vpk, lo, hi, k)
            tp, td = pc[C_THETA_PLUS], pc[C_THETA_DECAY]
            if tp > 0.0 or td < 1.0:
                for i in range(lo, hi):
                    st.theta[i] *= td
                    if learning and spk[i]:
                        st.theta[i] += tp
            for i in range(lo, hi):
                if spk[i]:
                    spikes[nsp] = i
                    nsp += 1
                    st.count[i] += 1
        # (3) synapses
        slot = step % D
        for c in range(4):
            for i in range(net.n_inputs, N):
                st.syn[c, i] += st.ring[slot, c, i]
                st.ring[slot, c, i] = 0.0
        if net.any_plastic:
            decay_traces(net, st)
        while ri < rw_step.shape[0] and rw_step[ri] <= step:
            reward(net, st, rw_ch[ri], rw_val[ri])
            ri += 1
        while ii < in_step.shape[0] and in_step[ii] <= step:
            _send(net, st, in_idx[ii], step, learning)
            ii += 1
        for q in range(nsp):
            _send(net, st, spikes[q], step, learning)
        if net.any_plastic:
            for q in range(nsp):
                g = spikes[q]
                for sg in range(net.in_seg_ptr[g], net.in_seg_ptr[g + 1]):
                    on_post(net, st, net.in_seg_proj[sg], g, net.in_seg_lo[sg], net.in_seg_hi[sg], learning)
        per_step(net, st, step, learning)
        # (4) outputs and recordings
        for q in range(nsp):
            o = net.out_map[spikes[q]]
            if o >= 0:
                out_step[n_out] = step
                out_idx[n_out] = o
                n_out += 1
        for c in range(rec_src.shape[0]):
            src = rec_src[c]
            i = rec_idx[c]
            if src < REC_SYN:
                rec_buf[s, c] = st.S[src, i]
            elif src < REC_THETA:
                rec_buf[s, c] = st.syn[src - REC_SYN, i]
            else:
                rec_buf[s, c] = st.theta[i]
    return n_steps, n_out, ii, ri
