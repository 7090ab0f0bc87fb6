"""Convolutional SNN layer: kernel vs a plain-numpy reference, chunk invariance, state, and STDP selectivity."""

import numpy as np
import pytest

from spikestream.snn.conv import ConvLayer, ConvParams, image_to_latency_spikes


# ------------------------------------------------------------------ plain-numpy reference (slow, obvious)
def reference_conv(p: ConvParams, w0, in_idx, in_t, n_steps):
    w = w0.copy()
    F, C, K = w.shape[:3]
    H, W = p.height, p.width
    Ho, Wo, Hp, Wp = p.conv_height, p.conv_width, p.out_height, p.out_width
    decay = 1.0 if p.tau_us == 0 else np.exp(-p.dt_us / p.tau_us)
    win = int(p.stdp_window_us // p.dt_us)
    v = np.zeros((F, Ho, Wo))
    last_pre = np.full((C, H, W), -1)
    steps_in = in_t // p.dt_us
    out_i, out_s = [], []
    for step in range(n_steps):
        v *= decay
        frame = np.zeros((C, H + 2 * p.padding, W + 2 * p.padding))
        for k in in_idx[steps_in == step]:
            c, r = divmod(int(k), H * W)
            y, x = divmod(r, W)
            frame[c, y + p.padding, x + p.padding] += 1
            last_pre[c, y, x] = step
        for oy in range(Ho):
            for ox in range(Wo):
                patch = frame[:, oy * p.stride:oy * p.stride + K, ox * p.stride:ox * p.stride + K]
                v[:, oy, ox] += (w * patch[None]).sum(axis=(1, 2, 3))
        fired = {}
        for oy in range(Ho):
            for ox in range(Wo):
                f = int(np.argmax(v[:, oy, ox]))
                if v[f, oy, ox] >= p.threshold:
                    fired[(oy, ox)] = (f, v[f, oy, ox])
                    v[:, oy, ox] = 0.0
        pooled = set()
        for (oy, ox), (f, _) in fired.items():
            py, px = oy // p.pool, ox // p.pool
            if py < Hp and px < Wp and (f, py, px) not in pooled:
                pooled.add((f, py, px))
                out_i.append((f * Hp + py) * Wp + px)
                out_s.append(step)
        if p.learning and fired:
            won, blocked = set(), set()
            for _ in range(p.k_winners):
                cands = [(val, oy, ox, f) for (oy, ox), (f, val) in fired.items()
                         if (oy, ox) not in blocked and f not in won]
                if not cands:
                    break
                # highest potential; ties -> first in row-major scan order
                best = max(cands, key=lambda c: (c[0], -c[1] * Wo - c[2]))
                _, oy, ox, f = best
                won.add(f)
                for yy in range(oy - p.inhibition_radius, oy + p.inhibition_radius + 1):
                    for xx in range(ox - p.inhibition_radius, ox + p.inhibition_radius + 1):
                        blocked.add((yy, xx))
                for c in range(C):
                    for ky in range(K):
                        for kx in range(K):
                            iy, ix = oy * p.stride - p.padding + ky, ox * p.stride - p.padding + kx
                            if not (0 <= iy < H and 0 <= ix < W):
                                continue
                            lp = last_pre[c, iy, ix]
                            a = p.a_plus if (lp >= 0 and step - lp <= win) else p.a_minus
                            wv = w[f, c, ky, kx]
                            w[f, c, ky, kx] = np.clip(wv + a * wv * (1 - wv), 0.0, 1.0)
    return np.array(out_i, np.int64), np.array(out_s, np.int64) * p.dt_us, w


def random_input(p, n, T_us, seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, T_us, n)).astype(np.int64)
    idx = rng.integers(0, p.in_channels * p.height * p.width, n).astype(np.int32)
    return idx, t


PARAMS = [
    ConvParams(in_channels=2, height=9, width=10, n_features=3, kernel=3, stride=1, padding=1, pool=2,
               threshold=2.0, tau_us=5000, k_winners=2, inhibition_radius=1, a_plus=0.05, a_minus=-0.04),
    ConvParams(in_channels=1, height=11, width=8, n_features=4, kernel=4, stride=2, padding=0, pool=1,
               threshold=1.5, tau_us=0, k_winners=3, inhibition_radius=0, a_plus=0.1, a_minus=-0.02,
               stdp_window_us=3000),
]


@pytest.mark.parametrize("p", PARAMS)
def test_kernel_matches_reference(p):
    layer = ConvLayer(p)
    w0 = layer.w.copy()
    idx, t = random_input(p, 600, 40_000, seed=5)
    oi, ot = layer.advance(idx, t, 40_000)
    ri, rt, rw = reference_conv(p, w0, idx, t, 40)
    assert oi.size > 20  # the comparison is not vacuous
    order_k = np.lexsort((oi, ot))
    order_r = np.lexsort((ri, rt))
    np.testing.assert_array_equal(oi[order_k], ri[order_r])
    np.testing.assert_array_equal(ot[order_k], rt[order_r])
    np.testing.assert_allclose(layer.w, rw, rtol=0, atol=1e-12)
    assert not np.allclose(layer.w, w0)  # learning happened


@pytest.mark.parametrize("p", PARAMS)
def test_chunked_equals_whole(p):
    idx, t = random_input(p, 800, 50_000, seed=9)
    whole = ConvLayer(p)
    wi, wt = whole.advance(idx, t, 50_000)
    chunked = ConvLayer(p)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.integers(1, 50_000, 12))
    outs_i, outs_t, prev = [], [], 0
    for cut in list(cuts) + [50_000]:
        sel = (t >= prev) & (t < cut)
        oi, ot = chunked.advance(idx[sel], t[sel], int(cut))
        outs_i.append(oi)
        outs_t.append(ot)
        prev = cut
    np.testing.assert_array_equal(np.concatenate(outs_i), wi)
    np.testing.assert_array_equal(np.concatenate(outs_t), wt)
    np.testing.assert_array_equal(chunked.w, whole.w)


def test_state_roundtrip_continues_exactly():
    p = PARAMS[0]
    idx, t = random_input(p, 600, 40_000, seed=2)
    a = ConvLayer(p)
    first = t < 17_500
    a.advance(idx[first], t[first], 17_500)
    st = {k: v.copy() for k, v in a.get_state().items()}
    ai, at = a.advance(idx[~first], t[~first], 40_000)
    b = ConvLayer(ConvParams(**{**p.__dict__, "seed": 99}))
    b.set_state(st)
    bi, bt = b.advance(idx[~first], t[~first], 40_000)
    np.testing.assert_array_equal(ai, bi)
    np.testing.assert_array_equal(at, bt)
    np.testing.assert_array_equal(a.w, b.w)
    with pytest.raises(ValueError, match="saved from another layer"):
        ConvLayer(PARAMS[1]).set_state(st)
    no_sig = {k: v for k, v in st.items() if k != "signature"}
    with pytest.raises(ValueError, match="shape"):
        ConvLayer(PARAMS[1]).set_state(no_sig)
    # a bad state is refused before anything is written (state contract)
    c = ConvLayer(p)
    before = {k: v.copy() for k, v in c.get_state().items()}
    for bad in ({k: v for k, v in st.items() if k != "step"}, {**st, "v": np.full_like(st["v"], np.nan)},
                {**st, "w": st["w"] + 2.0}, {**st, "pending_idx": np.array([10**6], np.int32),
                                            "pending_t": np.array([0], np.int64)}):
        with pytest.raises(ValueError, match="conv: state"):
            c.set_state(bad)
        for k, v in c.get_state().items():
            np.testing.assert_array_equal(v, before[k])


def test_bad_input_and_params():
    layer = ConvLayer(PARAMS[0])
    with pytest.raises(ValueError, match="indices"):
        layer.advance(np.array([layer.n_inputs]), np.array([0]), 1000)
    with pytest.raises(ValueError, match="indices"):
        layer.advance(np.array([-1]), np.array([0]), 1000)
    with pytest.raises(ValueError, match="non-decreasing"):
        layer.advance(np.array([0, 1]), np.array([5, 3]), 1000)
    with pytest.raises(ValueError, match="until_us"):
        layer.advance(np.array([0]), np.array([2000]), 1000)
    with pytest.raises(ValueError, match="does not fit"):
        ConvParams(height=3, width=3, kernel=5)
    with pytest.raises(ValueError, match="threshold"):
        ConvParams(threshold=float("nan"))
    with pytest.raises(ValueError, match="a_plus"):
        ConvParams(a_minus=0.1)


def test_latency_coding_orders_by_intensity():
    img = np.array([[[0.0, 1.0], [0.5, 0.25]]])
    idx, t = image_to_latency_spikes(img, t0_us=1000, dt_us=1000, n_steps=4)
    assert list(idx) == [1, 2, 3]
    assert list(t) == [1000, 3000, 4000]


def _bar(kind, rng, H=12, W=12):
    img = np.zeros((1, H, W))
    y, x = rng.integers(0, H - 5, 2)
    if kind == 0:
        img[0, y + 2, x:x + 5] = 1
    else:
        img[0, y:y + 5, x + 2] = 1
    img[rng.random((1, H, W)) < 0.03] = 1
    return img


def _responses(layer, rng, n, t):
    F = layer.params.n_features
    per_map = layer.params.out_height * layer.params.out_width
    resp = np.zeros((2, F))
    for it in range(n):
        k = it % 2
        layer.reset_potentials()
        idx = np.flatnonzero(_bar(k, rng).ravel()).astype(np.int32)
        oi, _ = layer.advance(idx, np.full(idx.size, t, np.int64), t + 5000)
        t += 5000
        resp[k] += np.bincount(oi // per_map, minlength=F)
    return resp, t


def _selective_layer(**kw):
    """The layer of the two selectivity experiments: four 5x5 features, no pooling, one winner, seed 3; `kw`:
    the input's size and the dynamics."""
    return ConvLayer(ConvParams(n_features=4, kernel=5, pool=1, k_winners=1, seed=3, **kw))


def test_stdp_on_repeated_patterns_makes_features_selective():
    """Bars of two orientations at random places: k-WTA STDP gives features tuned to one orientation."""
    layer = _selective_layer(in_channels=1, height=12, width=12, threshold=4.0, tau_us=0, inhibition_radius=3,
                             a_plus=0.05, a_minus=-0.03, stdp_window_us=10_000)
    rng = np.random.default_rng(1)
    layer.learning = False
    before, t = _responses(layer, rng, 100, 0)
    # untrained: every feature that responds answers both orientations
    sel_before = np.abs(before[0] - before[1]) / np.maximum(before.sum(0), 1)
    assert sel_before.max() < 0.5
    layer.learning = True
    _, t = _responses(layer, rng, 1500, t)
    layer.learning = False
    after, t = _responses(layer, rng, 200, t)
    sel = (after[0] - after[1]) / np.maximum(after.sum(0), 1)
    h, v = int(np.argmax(sel)), int(np.argmin(sel))
    assert sel[h] > 0.9 and after[0, h] > 50  # a feature answering horizontal bars only
    assert sel[v] < -0.9 and after[1, v] > 50  # and one answering vertical bars only
    kh, kv = layer.w[h, 0], layer.w[v, 0]
    assert kh.mean(axis=1).max() > 0.9 and kh.mean(axis=0).max() < 0.6  # a bright row
    assert kv.mean(axis=0).max() > 0.9 and kv.mean(axis=1).max() < 0.6  # a bright column


def test_event_camera_input_drives_the_layer():
    """ON events of a moving vertical edge, as a camera would send them, through events_to_spikes."""
    from spikestream.events.dtype import EVENT_DTYPE
    from spikestream.snn.conv import events_to_spikes

    H = W = 16
    ev = []
    for k, x in enumerate(range(2, 14)):  # one column per ms, 16 rows, ON polarity
        for y in range(H):
            ev.append((x, y, 1000 * k + 10 * y, 1))
    ev = np.array(ev, dtype=EVENT_DTYPE)
    idx, t = events_to_spikes(ev, H, W)
    assert idx.min() >= H * W  # ON channel
    p = ConvParams(in_channels=2, height=H, width=W, n_features=2, kernel=3, pool=2, threshold=2.0,
                   learning=False)
    layer = ConvLayer(p)
    oi, ot = layer.advance(idx, t, 13_000)
    assert oi.size > 0 and np.all(np.diff(ot) >= 0)
    cols = (oi % (p.out_height * p.out_width)) % p.out_width
    # the response follows the edge: later output spikes sit further right
    assert np.corrcoef(ot, cols)[0, 1] > 0.8
    bad = ev.copy()
    bad["x"][0] = W
    with pytest.raises(ValueError, match="outside"):
        events_to_spikes(bad, H, W)
    with pytest.raises(ValueError, match="fields"):
        events_to_spikes(np.zeros(3), H, W)


def test_layers_stack_like_spyketorch():
    """conv1 -> pool -> conv2: the first layer's output index space is the second layer's input."""
    p1 = ConvParams(in_channels=2, height=16, width=16, n_features=4, kernel=3, pool=2, threshold=1.5)
    l1 = ConvLayer(p1)
    p2 = ConvParams(in_channels=p1.n_features, height=p1.out_height, width=p1.out_width, n_features=6,
                    kernel=3, pool=1, threshold=1.5, seed=1)
    l2 = ConvLayer(p2)
    assert l2.n_inputs == l1.n_outputs
    idx, t = random_input(p1, 3000, 50_000, seed=4)
    o1, t1 = l1.advance(idx, t, 50_000)
    o2, t2 = l2.advance(o1, t1, 50_000)
    assert o1.size > 0 and o2.size > 0 and o2.max() < l2.n_outputs


def test_clock_late_inputs_skip_and_stats():
    p = PARAMS[0]
    layer = ConvLayer(p)
    assert layer.time_us is None
    t0 = 1_700_000_000_000_000  # epoch-like source time: the clock starts at the first input, not at 0
    idx, t = random_input(p, 300, 20_000, seed=1)
    layer.advance(idx, t + t0, t0 + 20_000)
    assert layer.time_us == t0 + 20_000
    layer.advance(np.array([0, 1]), np.array([t0 + 5_000, t0 + 25_000]), t0 + 30_000)
    assert layer.late_spikes == 1
    assert layer.skip_to(t0 + 3_600_000_000) == 3_600_000 - 30
    assert layer.time_us == t0 + 3_600_000_000
    st = layer.stats()
    assert st["time_us"] == layer.time_us and st["rates_hz"]["conv"] >= 0
    with pytest.raises(ValueError, match="running"):
        layer.start(0)
    with pytest.raises(ValueError, match="reward"):
        layer.reward([0], [1.0])
    fresh = ConvLayer(p)
    fresh.start(t0)
    assert fresh.time_us == t0


def _sweep(kind, t0, rng, H=16, W=16):
    """ON events of a bar sweeping across the frame, one line per ms (kind 0: vertical bar moving along x;
    kind 1: horizontal bar moving along y), either direction, 90% of pixels, plus 10 noise events."""
    from spikestream.events.dtype import EVENT_DTYPE
    ev = []
    lines = range(W) if rng.random() < 0.5 else range(W - 1, -1, -1)
    for k, c in enumerate(lines):
        for r in range(H):
            if rng.random() < 0.9:
                x, y = (c, r) if kind == 0 else (r, c)
                ev.append((x, y, t0 + 1000 * k + rng.integers(0, 1000), 1))
    for _ in range(10):
        ev.append((rng.integers(0, W), rng.integers(0, H), t0 + rng.integers(0, 16_000), 1))
    ev = np.array(ev, dtype=EVENT_DTYPE)
    ev.sort(order="t")
    return ev


def test_stdp_on_event_camera_sweeps_makes_features_selective():
    """Moving bars from an event camera: k-WTA STDP gives one feature per motion orientation."""
    from spikestream.snn.conv import events_to_spikes
    layer = _selective_layer(in_channels=2, height=16, width=16, threshold=8.0, tau_us=3000, inhibition_radius=4,
                             a_plus=0.03, a_minus=-0.02, stdp_window_us=2000)
    p = layer.params
    rng = np.random.default_rng(0)
    per_map = p.out_height * p.out_width
    clock = [0]

    def present(kind, learn):
        layer.learning = learn
        t0 = clock[0]
        idx, t = events_to_spikes(_sweep(kind, t0, rng), 16, 16)
        oi, _ = layer.advance(idx, t, t0 + 30_000)
        clock[0] += 30_000
        return np.bincount(oi // per_map, minlength=p.n_features)

    def responses(n):
        r = np.zeros((2, p.n_features))
        for k in range(n):
            r[k % 2] += present(k % 2, False)
        return r, (r[0] - r[1]) / np.maximum(r.sum(0), 1)

    _, sel0 = responses(40)
    assert not (sel0.max() > 0.9 and sel0.min() < -0.9)  # untrained: no pair of orientation detectors
    for k in range(600):
        present(k % 2, True)
    r, sel = responses(40)
    v, h = int(np.argmax(sel)), int(np.argmin(sel))
    assert sel[v] > 0.95 and r[0, v] > 100, (sel, r)
    assert sel[h] < -0.95 and r[1, h] > 100, (sel, r)
    kv, kh = layer.w[v, 1], layer.w[h, 1]  # ON channel
    assert kv.mean(axis=0).max() > 0.9 and kv.mean(axis=1).max() < 0.9  # bright columns, no bright row
    assert kh.mean(axis=1).max() > 0.9 and kh.mean(axis=0).max() < 0.9  # bright rows, no bright column
