"""The convolutional layer's jitted step loop and its winner-take-all STDP (split out of conv.py; see its
docstring for the per-step rules)."""

from numba import njit


@njit(cache=True)
def _stdp_winner(w, last_pre, f, oy, ox, step, win_steps, stride, pad, a_plus, a_minus):
    C, K = w.shape[1], w.shape[2]
    H, W = last_pre.shape[1], last_pre.shape[2]
    for c in range(C):
        for ky in range(K):
            iy = oy * stride - pad + ky
            if iy < 0 or iy >= H:
                continue
            for kx in range(K):
                ix = ox * stride - pad + kx
                if ix < 0 or ix >= W:
                    continue
                lp = last_pre[c, iy, ix]
                a = a_plus if (lp >= 0 and step - lp <= win_steps) else a_minus
                wv = w[f, c, ky, kx]
                wv += a * wv * (1.0 - wv)
                if wv < 0.0:
                    wv = 0.0
                elif wv > 1.0:
                    wv = 1.0
                w[f, c, ky, kx] = wv


@njit(cache=True)
def _conv_advance(in_idx, in_step, step0, n_steps, w, v, last_pre, pool_mark,
                  fired_f, fired_v, won_feat, blocked,
                  decay, threshold, stride, pad, pool, learning, k_winners, radius, win_steps,
                  a_plus, a_minus, out_idx, out_step):
    """Simulate steps step0 .. step0+n_steps-1. Inputs sorted by step. Returns (n_out, steps_done);
    stops early (before a step) when `out_idx` could overflow during it."""
    F, C, K = w.shape[0], w.shape[1], w.shape[2]
    Ho, Wo = v.shape[1], v.shape[2]
    H, W = last_pre.shape[1], last_pre.shape[2]
    Hp, Wp = pool_mark.shape[1], pool_mark.shape[2]
    HW = H * W
    n_in = in_idx.shape[0]
    cap = out_idx.shape[0]
    per_step_max = Ho * Wo
    j = 0
    n_out = 0
    for s in range(n_steps):
        step = step0 + s
        if n_out + per_step_max > cap:
            return n_out, s
        # 1. leak
        if decay != 1.0:
            for f in range(F):
                for oy in range(Ho):
                    for ox in range(Wo):
                        v[f, oy, ox] *= decay
        # 2. inputs of this step, scattered through the shared kernels
        while j < n_in and in_step[j] == step:
            k = in_idx[j]
            c = k // HW
            r = k - c * HW
            iy = r // W
            ix = r - iy * W
            last_pre[c, iy, ix] = step
            for ky in range(K):
                ty = iy + pad - ky
                if ty < 0 or ty % stride != 0:
                    continue
                oy = ty // stride
                if oy >= Ho:
                    continue
                for kx in range(K):
                    tx = ix + pad - kx
                    if tx < 0 or tx % stride != 0:
                        continue
                    ox = tx // stride
                    if ox >= Wo:
                        continue
                    for f in range(F):
                        v[f, oy, ox] += w[f, c, ky, kx]
            j += 1
        # 3. fire with pointwise (column) inhibition
        n_fired = 0
        for oy in range(Ho):
            for ox in range(Wo):
                best = 0
                bv = v[0, oy, ox]
                for f in range(1, F):
                    if v[f, oy, ox] > bv:
                        bv = v[f, oy, ox]
                        best = f
                if bv >= threshold:
                    fired_f[oy, ox] = best
                    fired_v[oy, ox] = bv
                    n_fired += 1
                    for f in range(F):
                        v[f, oy, ox] = 0.0
                    py = oy // pool
                    px = ox // pool
                    if py < Hp and px < Wp and pool_mark[best, py, px] != step:
                        pool_mark[best, py, px] = step
                        out_idx[n_out] = (best * Hp + py) * Wp + px
                        out_step[n_out] = step
                        n_out += 1
                else:
                    fired_f[oy, ox] = -1
        # 4. k-winners-take-all STDP
        if learning and n_fired > 0 and k_winners > 0:
            for f in range(F):
                won_feat[f] = False
            for oy in range(Ho):
                for ox in range(Wo):
                    blocked[oy, ox] = False
            for _ in range(k_winners):
                wb = -1.0
                wy = -1
                wx = -1
                for oy in range(Ho):
                    for ox in range(Wo):
                        f = fired_f[oy, ox]
                        if f >= 0 and not blocked[oy, ox] and not won_feat[f] and fired_v[oy, ox] > wb:
                            wb = fired_v[oy, ox]
                            wy = oy
                            wx = ox
                if wy < 0:
                    break
                f = fired_f[wy, wx]
                won_feat[f] = True
                for oy in range(max(0, wy - radius), min(Ho, wy + radius + 1)):
                    for ox in range(max(0, wx - radius), min(Wo, wx + radius + 1)):
                        blocked[oy, ox] = True
                _stdp_winner(w, last_pre, f, wy, wx, step, win_steps, stride, pad, a_plus, a_minus)
    return n_out, n_steps
