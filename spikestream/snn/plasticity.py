"""Plasticity kernels: what the step's pre- and post-synaptic spikes do to weights, traces and
eligibilities, and the per-step parts (trace decay, reward-modulated updates, weight normalisation).

Each function handles a whole step and takes plain arrays (no tuples: passing the network's tuples per
call costs more than the work). What a rule does is read from its `pp` row: the generic slots
(`learning.PC`: bounds, decays, the soft / nearest / eligibility / rate flags) and its hooks' amplitudes.

`_pre_one`, `_pre_rate`, `pre_spikes` and `post_spikes` (`TEMPLATES`) are sources, not called as they are:
`spikestream.snn._dispatch` compiles them (@njit, cached) with the network loop in a generated module that
defines the hook dispatch `_pre_amp`, `_post_amp` and `_rate_amp` over every declared rule. A hook is
called once per spike; only a rule with a per-post factor (`rate_amp`, stdp_bcm) calls one per synapse.

Order within a step (docs/snn.md): traces decay; rewards arrive;
pre-synaptic spikes (depression with the post traces as they were, then pre traces += 1); post-synaptic
spikes (potentiation with the pre traces including this step's spikes, then post traces += 1); R-STDP
weight update; normalisation.
"""

from numba import njit

from spikestream.snn.learning import PC, R_NONE

@njit(cache=True)
def _clip(w, lo, hi):
    if w < lo:
        return lo
    if w > hi:
        return hi
    return w


@njit(cache=True)
def decay_traces(rule, pp, x_off, n_pre, y_off, n_post, x1, x2, y1, y2, rho):
    for p in range(rule.shape[0]):
        if rule[p] == R_NONE:
            continue
        dx1, dx2, dy1, dy2 = pp[p, PC.dx1], pp[p, PC.dx2], pp[p, PC.dy1], pp[p, PC.dy2]
        for i in range(x_off[p], x_off[p] + n_pre[p]):
            x1[i] *= dx1
            x2[i] *= dx2
        for j in range(y_off[p], y_off[p] + n_post[p]):
            y1[j] *= dy1
            y2[j] *= dy2
        if pp[p, PC.rate] != 0.0:  # the post neurons' running rates (Hz)
            dr = pp[p, PC.d_rate]
            for j in range(y_off[p], y_off[p] + n_post[p]):
                rho[j] *= dr


@njit(cache=True)
def _pre_update(wk, y, am, soft, wmin, wmax):
    """Depression of one weight by amplitude am and post trace y."""
    if soft:
        return _clip(wk - am * y * (wk - wmin), wmin, wmax)
    return _clip(wk - am * y, wmin, wmax)


def _pre_one(g, p, lo, hi, rule, pp, x_off, pre_lo, n_pre, n_post, y_off, post_lo, e_off, syn_lo, dense, sp_off,
             syn_post, w, x1, x2, y1, rho, elig, learning):
    """Pre-synaptic neuron g spiked: its synapses of projection p are lo..hi-1 (sparse) or the column
    lo, lo + n_pre, ... (dense, post-major)."""
    xi = x_off[p] + g - pre_lo[p]
    r = rule[p]
    if learning:
        wmin, wmax = pp[p, PC.w_min], pp[p, PC.w_max]
        soft = pp[p, PC.soft] != 0.0
        el = pp[p, PC.elig] != 0.0
        am = _pre_amp(r, pp, p, x2[xi])  # noqa: F821 (generated: spikestream.snn._dispatch)
        e = e_off[p] - syn_lo[p]
        if pp[p, PC.rate] != 0.0:
            _pre_rate(r, p, lo, hi, pp, am, n_pre, n_post, y_off, post_lo, dense, sp_off, syn_lo, syn_post, w,
                      y1, rho, elig, e, el, soft, wmin, wmax)
        elif dense[p]:
            npre, yb = n_pre[p], y_off[p]
            for j in range(n_post[p]):
                k = lo + j * npre
                if el:
                    elig[e + k] -= am * y1[yb + j]
                else:
                    w[k] = _pre_update(w[k], y1[yb + j], am, soft, wmin, wmax)
        else:
            off = sp_off[p] - syn_lo[p]
            yb = y_off[p] - post_lo[p]
            for k in range(lo, hi):
                y = y1[yb + syn_post[k + off]]
                if el:
                    elig[e + k] -= am * y
                else:
                    w[k] = _pre_update(w[k], y, am, soft, wmin, wmax)
    if pp[p, PC.nearest] != 0.0:
        x1[xi] = 1.0
        x2[xi] = 1.0
    else:
        x1[xi] += 1.0
        x2[xi] += 1.0


def _pre_rate(r, p, lo, hi, pp, am, n_pre, n_post, y_off, post_lo, dense, sp_off, syn_lo, syn_post, w, y1, rho, elig,
              e, el, soft, wmin, wmax):
    """Depression for a rule with a per-post factor: synapse k onto post neuron j gets the amplitude
    ``rate_amp(am, rho_j)`` (stdp_bcm: the sliding threshold)."""
    if dense[p]:
        npre, yb = n_pre[p], y_off[p]
        for j in range(n_post[p]):
            k = lo + j * npre
            a = _rate_amp(r, pp, p, am, rho[yb + j])  # noqa: F821 (generated)
            if el:
                elig[e + k] -= a * y1[yb + j]
            else:
                w[k] = _pre_update(w[k], y1[yb + j], a, soft, wmin, wmax)
    else:
        off = sp_off[p] - syn_lo[p]
        yb = y_off[p] - post_lo[p]
        for k in range(lo, hi):
            j = yb + syn_post[k + off]
            a = _rate_amp(r, pp, p, am, rho[j])  # noqa: F821 (generated)
            if el:
                elig[e + k] -= a * y1[j]
            else:
                w[k] = _pre_update(w[k], y1[j], a, soft, wmin, wmax)


def pre_spikes(ev_a, a0, a1, ev_b, nb, seg_ptr, seg_proj, seg_lo, seg_hi, rule, pp, x_off, pre_lo, n_pre, n_post,
               y_off, post_lo, e_off, syn_lo, dense, sp_off, syn_post, w, x1, x2, y1, rho, elig, learning):
    """Pre-synaptic plasticity for the step's spikes: ev_a[a0:a1] (external inputs) then ev_b[:nb]."""
    for q in range(a0, a1 + nb):
        g = ev_a[q] if q < a1 else ev_b[q - a1]
        for sg in range(seg_ptr[g], seg_ptr[g + 1]):
            p = seg_proj[sg]
            if rule[p] != R_NONE:
                _pre_one(g, p, seg_lo[sg], seg_hi[sg], rule, pp, x_off, pre_lo, n_pre, n_post, y_off, post_lo,
                         e_off, syn_lo, dense, sp_off, syn_post, w, x1, x2, y1, rho, elig, learning)


@njit(cache=True)
def _post_update(wk, xv, ap, soft, wmin, wmax):
    """Potentiation of one weight by amplitude ap and pre trace xv."""
    if soft:
        return _clip(wk + ap * xv * (wmax - wk), wmin, wmax)
    return _clip(wk + ap * xv, wmin, wmax)


@njit(cache=True)
def _post_traces(yj, nearest, y1, y2):
    if nearest:
        y1[yj] = 1.0
        y2[yj] = 1.0
    else:
        y1[yj] += 1.0
        y2[yj] += 1.0


def post_spikes(spikes, nsp, seg_ptr, seg_proj, seg_lo, seg_hi, rev_syn, rev_pre, rule, pp, x_off, pre_lo, n_pre,
                n_post, y_off, post_lo, e_off, syn_lo, dense, w, x1, y1, y2, rho, elig, learning):
    """Post-synaptic plasticity for the step's network spikes: sparse projections through the reverse
    index, dense ones over the post neuron's contiguous row of incoming weights."""
    for q in range(nsp):
        g = spikes[q]
        for sg in range(seg_ptr[g], seg_ptr[g + 1]):
            p = seg_proj[sg]
            r = rule[p]
            if r == R_NONE or dense[p]:
                continue
            yj = y_off[p] + g - post_lo[p]
            if learning:
                wmin, wmax = pp[p, PC.w_min], pp[p, PC.w_max]
                soft = pp[p, PC.soft] != 0.0
                xoff = x_off[p] - pre_lo[p]
                ap = _post_amp(r, pp, p, y2[yj])  # noqa: F821 (generated: spikestream.snn._dispatch)
                if pp[p, PC.elig] != 0.0:
                    e = e_off[p] - syn_lo[p]
                    for i in range(seg_lo[sg], seg_hi[sg]):
                        elig[e + rev_syn[i]] += ap * x1[xoff + rev_pre[i]]
                else:
                    for i in range(seg_lo[sg], seg_hi[sg]):
                        k = rev_syn[i]
                        w[k] = _post_update(w[k], x1[xoff + rev_pre[i]], ap, soft, wmin, wmax)
            _post_traces(yj, pp[p, PC.nearest] != 0.0, y1, y2)
            if pp[p, PC.rate] != 0.0:
                rho[yj] += pp[p, PC.rate_inc]
    for p in range(rule.shape[0]):
        r = rule[p]
        if r == R_NONE or not dense[p]:
            continue
        a, b = post_lo[p], post_lo[p] + n_post[p]
        npre, xb = n_pre[p], x_off[p]
        wmin, wmax = pp[p, PC.w_min], pp[p, PC.w_max]
        soft = pp[p, PC.soft] != 0.0
        e = e_off[p] - syn_lo[p]
        nearest = pp[p, PC.nearest] != 0.0
        el = pp[p, PC.elig] != 0.0
        rate = pp[p, PC.rate] != 0.0
        for q in range(nsp):
            g = spikes[q]
            if g < a or g >= b:
                continue
            yj = y_off[p] + g - a
            if learning:
                row = syn_lo[p] + (g - a) * npre  # post-major: this neuron's incoming weights are contiguous
                ap = _post_amp(r, pp, p, y2[yj])  # noqa: F821 (generated)
                if el:
                    for i in range(npre):
                        elig[e + row + i] += ap * x1[xb + i]
                else:
                    if soft:
                        for i in range(npre):
                            wk = w[row + i]
                            w[row + i] = _clip(wk + ap * x1[xb + i] * (wmax - wk), wmin, wmax)
                    else:
                        for i in range(npre):
                            w[row + i] = _clip(w[row + i] + ap * x1[xb + i], wmin, wmax)
            _post_traces(yj, nearest, y1, y2)
            if rate:
                rho[yj] += pp[p, PC.rate_inc]


@njit(cache=True)
def reward(rule, pp, dopa, channel, value):
    for p in range(rule.shape[0]):
        if rule[p] != R_NONE and pp[p, PC.elig] != 0.0 and int(pp[p, PC.reward_channel]) == channel:
            dopa[p] += value


@njit(cache=True)
def per_step(step, rule, pp, syn_lo, syn_hi, e_off, post_lo, n_pre, n_post, dense, seg_ptr, seg_proj, seg_lo,
             seg_hi, rev_syn, w, elig, dopa, learning):
    """R-STDP weight updates and decays; periodic weight normalisation."""
    for p in range(rule.shape[0]):
        lo, hi = syn_lo[p], syn_hi[p]
        if rule[p] != R_NONE and pp[p, PC.elig] != 0.0:
            d = dopa[p]
            e = e_off[p] - lo
            de = pp[p, PC.d_elig]
            if learning and d != 0.0:
                g = pp[p, PC.lr] * d
                wmin, wmax = pp[p, PC.w_min], pp[p, PC.w_max]
                for k in range(lo, hi):
                    w[k] = _clip(w[k] + g * elig[e + k], wmin, wmax)
            for k in range(lo, hi):
                elig[e + k] *= de
            dopa[p] = d * pp[p, PC.d_reward]
        every = int(pp[p, PC.norm_every])
        if learning and every > 0 and (step + 1) % every == 0:
            target, wmin, wmax = pp[p, PC.norm_target], pp[p, PC.w_min], pp[p, PC.w_max]
            if dense[p]:
                for j in range(n_post[p]):
                    row = lo + j * n_pre[p]
                    s = 0.0
                    for i in range(n_pre[p]):
                        s += w[row + i]
                    if s > 0.0:
                        f = target / s
                        for i in range(n_pre[p]):
                            w[row + i] = _clip(w[row + i] * f, wmin, wmax)
                continue
            for g in range(post_lo[p], post_lo[p] + n_post[p]):
                for sg in range(seg_ptr[g], seg_ptr[g + 1]):
                    if seg_proj[sg] != p:
                        continue
                    s = 0.0
                    for i in range(seg_lo[sg], seg_hi[sg]):
                        s += w[rev_syn[i]]
                    if s > 0.0:
                        f = target / s
                        for i in range(seg_lo[sg], seg_hi[sg]):
                            k = rev_syn[i]
                            w[k] = _clip(w[k] * f, wmin, wmax)


#: The generic kernels compiled in the generated module (with the hook dispatch), in this order.
TEMPLATES = (_pre_rate, _pre_one, pre_spikes, post_spikes)
