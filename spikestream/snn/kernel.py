"""The network step loop: one jitted call advances the whole network by many steps.

Per step: (1) every layer's neurons integrate one step (`_update_layer`: the layer's model step, chosen by
its code in a dispatch generated from the declared models, see `spikestream.snn._dispatch`);
(2) k-WTA and adaptive thresholds; the step's spikes are listed; (3) synapses: delayed input arriving this
step is added to the synaptic variables, traces decay, rewards arrive, external input spikes then the
network's spikes are sent (delay 0: at once; delay d: into ring-buffer slot step+d) with their plasticity,
post-synaptic plasticity, per-step learning; (4) output spikes and recordings are written.
"""

from numba import njit

from spikestream.snn import _dispatch
from spikestream.snn.neuron import C_THETA_DECAY, C_THETA_PLUS, C_WTA
from spikestream.snn.plasticity import decay_traces, per_step, post_spikes, pre_spikes, reward

#: rec_src codes: 0..3 state variable rows, 4..7 synaptic channels, 8 adaptive threshold.
REC_SYN, REC_THETA = 4, 8


@njit(cache=True)
def _wta(spk, vpk, lo, hi, k):
    """Keep the k spikes with the largest value at threshold crossing (ties: lower index)."""
    n = 0
    for i in range(lo, hi):
        if spk[i]:
            n += 1
    while n > k:
        worst = -1
        for i in range(lo, hi):
            if spk[i] and (worst < 0 or vpk[i] <= vpk[worst]):
                worst = i
        spk[worst] = 0
        n -= 1


def run(net, st, step0, n_steps, in_step, in_idx, rw_step, rw_ch, rw_val, learning,
        out_step, out_idx, rec_src, rec_idx, rec_buf, spk, vpk, spikes, lost):
    """`step_loop`, compiled with the dispatch over the declared neuron models (`spikestream.snn._dispatch`;
    compiled or loaded from Numba's cache once per process and set of models)."""
    return _dispatch.loop(step_loop)(net, st, step0, n_steps, in_step, in_idx, rw_step, rw_ch, rw_val, learning,
                                     out_step, out_idx, rec_src, rec_idx, rec_buf, spk, vpk, spikes, lost)


def step_loop(net, st, step0, n_steps, in_step, in_idx, rw_step, rw_ch, rw_val, learning,
              out_step, out_idx, rec_src, rec_idx, rec_buf, spk, vpk, spikes, lost):
    """Advance from absolute step `step0` by up to `n_steps` steps. `lost[l]` counts the spikes layer l's
    neurons would have fired beyond one per step (a kernel's `spk[i]` > 1: several threshold crossings
    among a step's sub-steps); one spike per neuron and step is emitted.

    Returns (steps done, output spikes written, input spikes consumed, rewards consumed); stops early
    (at a step boundary) when the output buffer could overflow.

    The source of the loop, not called as is: `spikestream.snn._dispatch` compiles it (@njit, cached) in a
    generated module that defines `_update_layer` and compiles `pre_spikes` and `post_spikes` there too
    (with the learning rules' hook dispatch)."""
    N = net.n_neurons
    D = st.ring.shape[0]
    n_layers = net.layer_code.shape[0]
    cap = out_step.shape[0]
    n_out = 0
    ii = 0
    ri = 0
    # hoist arrays out of the tuples once (calls that take the tuples are costly per call)
    S, syn, theta, ring, w, ring_used = st.S, st.syn, st.theta, st.ring, st.w, st.ring_used
    x1, x2, y1, y2, rho, elig = st.x1, st.x2, st.y1, st.y2, st.rho, st.elig
    seg_ptr, seg_proj, seg_lo, seg_hi = net.out_seg_ptr, net.out_seg_proj, net.out_seg_lo, net.out_seg_hi
    chan, delay, post = net.proj_chan, net.syn_delay, net.syn_post
    rule, pp, x_off, y_off, e_off = net.proj_rule, net.proj_pp, net.proj_x_off, net.proj_y_off, net.proj_e_off
    pre_lo, post_lo, n_pre, n_post, syn_lo = (net.proj_pre_lo, net.proj_post_lo, net.proj_n_pre, net.proj_n_post,
                                              net.proj_syn_lo)
    plastic = net.any_plastic
    dense, pdelay, sp_off = net.proj_dense, net.proj_delay, net.proj_sp_off
    for s in range(n_steps):
        if n_out + net.n_out > cap:
            return s, n_out, ii, ri
        step = step0 + s
        # (1) neurons
        for l in range(n_layers):
            _update_layer(net.layer_code[l],  # noqa: F821 (generated: spikestream.snn._dispatch)
                          net.layer_lo[l], net.layer_hi[l], S, syn, st.refr, st.flag, theta,
                          st.ibias, net.layer_pm[l], net.layer_pc[l], st.rng, spk, vpk)
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
                    theta[i] *= td
                    if learning and spk[i]:
                        theta[i] += tp
            for i in range(lo, hi):
                if spk[i]:
                    if spk[i] > 1:
                        lost[l] += spk[i] - 1
                        spk[i] = 1
                    spikes[nsp] = i
                    nsp += 1
                    st.count[i] += 1
        # (3) synapses
        slot = step % D
        for c in range(4):
            if ring_used[slot, c]:
                for i in range(net.n_inputs, N):
                    syn[c, i] += ring[slot, c, i]
                    ring[slot, c, i] = 0.0
                ring_used[slot, c] = 0
        if plastic:
            decay_traces(rule, pp, x_off, n_pre, y_off, n_post, x1, x2, y1, y2, rho)
        while ri < rw_step.shape[0] and rw_step[ri] <= step:
            reward(rule, pp, st.dopa, rw_ch[ri], rw_val[ri])
            ri += 1
        ii0 = ii
        while ii < in_step.shape[0] and in_step[ii] <= step:
            ii += 1
        # transmission: external inputs of this step, then the network's spikes
        for q in range(ii0, ii + nsp):
            g = in_idx[q] if q < ii else spikes[q - ii]
            for sg in range(seg_ptr[g], seg_ptr[g + 1]):
                p = seg_proj[sg]
                ch = chan[p]
                lo, hi = seg_lo[sg], seg_hi[sg]
                if dense[p]:  # post-major weights: column lo, stride n_pre
                    j0, npre = post_lo[p], n_pre[p]
                    d = pdelay[p]
                    if d == 0:
                        for j in range(n_post[p]):
                            syn[ch, j0 + j] += w[lo + j * npre]
                    else:
                        sl = (step + d) % D
                        ring_used[sl, ch] = 1
                        for j in range(n_post[p]):
                            ring[sl, ch, j0 + j] += w[lo + j * npre]
                else:
                    off = sp_off[p] - syn_lo[p]
                    for kk in range(lo, hi):
                        d = delay[kk + off]
                        if d == 0:
                            syn[ch, post[kk + off]] += w[kk]
                        else:
                            sl = (step + d) % D
                            ring[sl, ch, post[kk + off]] += w[kk]
                            ring_used[sl, ch] = 1
        if plastic:
            pre_spikes(in_idx, ii0, ii, spikes, nsp, seg_ptr, seg_proj, seg_lo, seg_hi, rule, pp, x_off, pre_lo,
                       n_pre, n_post, y_off, post_lo, e_off, syn_lo, dense, sp_off, post, w, x1, x2, y1, rho, elig,
                       learning)
            post_spikes(spikes, nsp, net.in_seg_ptr, net.in_seg_proj, net.in_seg_lo, net.in_seg_hi, net.rev_syn,
                        net.rev_pre, rule, pp, x_off, pre_lo, n_pre, n_post, y_off, post_lo, e_off, syn_lo, dense,
                        w, x1, y1, y2, rho, elig, learning)
        if net.any_per_step:
            per_step(step, rule, pp, syn_lo, net.proj_syn_hi, e_off, post_lo, n_pre, n_post, dense, net.in_seg_ptr,
                     net.in_seg_proj, net.in_seg_lo, net.in_seg_hi, net.rev_syn, w, elig, st.dopa, learning)
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
                rec_buf[s, c] = S[src, i]
            elif src < REC_THETA:
                rec_buf[s, c] = syn[src - REC_SYN, i]
            else:
                rec_buf[s, c] = theta[i]
    return n_steps, n_out, ii, ri
