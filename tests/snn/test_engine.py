"""The engine core: LIF kernel and network against references, chunk invariance, determinism, state."""

import copy
import math

import numpy as np
import pytest
from snn_reference import RefRNG, feedforward_lif_stdp, lif_step, poisson_input, stdp_pair_window

from spikestream.snn import build_snn
from spikestream.snn._rng import normal, seed_state, uniform
from spikestream.snn.model_lif import P, step_lif
from spikestream.snn.neuron import (C_DEXC, C_DINH, C_EEXC, C_EINH, C_H, C_NSUB, C_REF, N_COMMON, N_PM)


def test_rng_matches_reference():
    st = seed_state(12345)
    ref = RefRNG(12345)
    for _ in range(50):
        assert uniform(st) == ref.uniform()
    for _ in range(50):
        assert normal(st) == pytest.approx(ref.normal(), rel=1e-15)


@pytest.mark.parametrize("kind", ["lif", "if", "alif"])
@pytest.mark.parametrize("nsub", [1, 3])
def test_lif_kernel_matches_reference(kind, nsub):
    rng = np.random.default_rng(3)
    n = 200
    g_l = 0.0 if kind == "if" else 1.0
    a, b, tau_w = (0.3, 2.0, 80.0) if kind == "alif" else (0.0, 0.0, 0.0)
    tau_m, e_l, v_th, v_reset, ref = 20.0, -60.0, -50.0, -62.0, 3
    h = 1.0 / nsub
    S = np.zeros((4, n))
    S[0] = rng.uniform(-70, -45, n)
    S[1] = rng.uniform(0, 3, n) if kind == "alif" else 0.0
    syn = np.abs(rng.normal(0, 2, (4, n)))
    syn[2:] *= 0.1
    syn[2:, : n // 2] = 0.0  # half current-only (the leak-only branch)
    refr = rng.integers(0, 3, n).astype(np.int32)
    theta = rng.uniform(0, 2, n)
    ibias = rng.normal(0, 5, n)
    pm = np.zeros(N_PM)
    slots = dict(tau_m=tau_m, e_l=e_l, v_th=v_th, v_reset=v_reset, g_l=g_l, a=a, b=b, tau_w=tau_w,
                 leak=math.exp(-g_l * h / tau_m), wfac=math.exp(-h / tau_w) if tau_w else 1.0)
    for k, v in slots.items():
        pm[getattr(P, k)] = v
    pc = np.zeros(N_COMMON)
    pc[C_DEXC], pc[C_DINH] = math.exp(-h / 5.0), math.exp(-h / 10.0)
    pc[C_EEXC], pc[C_EINH], pc[C_REF], pc[C_NSUB], pc[C_H] = 0.0, -80.0, ref, nsub, h
    exp = lif_step(S[0], S[1], syn, refr, theta, ibias, tau_m=tau_m, e_l=e_l, v_th=v_th, v_reset=v_reset,
                   g_l=g_l, a=a, b=b, tau_w=tau_w, ref_steps=ref, h=h, nsub=nsub)
    spk = np.zeros(n, np.int8)
    step_lif(0, n, S, syn, refr, np.zeros(n, np.int8), theta, ibias, pm, pc, seed_state(0), spk, np.zeros(n))
    v, w, syn_e, refr_e, spk_e = exp
    np.testing.assert_array_equal(spk.astype(bool), spk_e)
    assert spk.sum() > 5  # the case exercises spikes
    np.testing.assert_allclose(S[0], v, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(S[1], w, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(syn, syn_e, rtol=1e-14)
    np.testing.assert_array_equal(refr, refr_e)


def _ff_params(n_out, delay_ms, synapse, w):
    return {"dt_us": 1000, "seed": 0,
            "layers": [{"name": "out", "n": n_out, "model": "lif", "t_ref_ms": 2.0, "v_reset": -65.0}],
            "connections": [{"pre": "input", "post": "out", "weight": w, "synapse": synapse,
                             "delay_ms": delay_ms,
                             "plasticity": {"rule": "stdp_pair", "a_plus": 0.02, "a_minus": 0.021,
                                            "tau_plus_ms": 15.0, "tau_minus_ms": 25.0, "w_max": 3.0}}]}


@pytest.mark.parametrize("synapse,w,delay", [("exp_current", 4.0, 0.0), ("exp_current", 4.0, 2.0),
                                              ("conductance", 0.15, 1.0)])
def test_network_matches_reference(synapse, w, delay):
    n_in, n_out, T = 40, 7, 600
    params = _ff_params(n_out, delay, synapse, {"init": "uniform", "low": 0.0, "high": w})
    snn = build_snn(params, n_in)
    w0 = snn.weight_matrix("input->out")
    idx, t = poisson_input(n_in, 30.0, T * 1000, seed=5)
    oi, ot = snn.advance(idx, t, T * 1000)
    ref_out, ref_w = feedforward_lif_stdp(
        n_in, n_out, w0, int(delay), t // 1000, idx, T, tau_m=20.0, e_l=-60.0, v_th=-50.0, v_reset=-65.0,
        ref_steps=2, tau_exc=5.0, a_plus=0.02, a_minus=0.021, tau_plus=15.0, tau_minus=25.0, w_max=3.0,
        conductance=synapse == "conductance")
    assert len(ref_out) > 20
    got = sorted(zip((ot // 1000).tolist(), oi.tolist()))
    assert got == sorted(ref_out)
    np.testing.assert_allclose(snn.weight_matrix("input->out"), ref_w, rtol=1e-9, atol=1e-12)


def _run_chunked(params, n_in, idx, t, cuts):
    snn = build_snn(params, n_in)
    snn.start(0)
    outs_i, outs_t = [], []
    prev = 0
    for c in cuts:
        sel = (t >= prev) & (t < c)
        oi, ot = snn.advance(idx[sel], t[sel], c)
        outs_i.append(oi)
        outs_t.append(ot)
        prev = c
    return snn, np.concatenate(outs_i), np.concatenate(outs_t)


def _assert_same_state(a, b):
    sa, sb = a.get_state(), b.get_state()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def _rich_params():
    """Recurrent E/I network with delays, noise, adaptive thresholds, WTA and three learning rules."""
    return {
        "dt_us": 500, "seed": 7,
        "layers": [
            {"name": "exc", "n": 40, "model": "lif", "noise": 0.5, "theta_plus": 0.2, "tau_theta_ms": 200.0},
            {"name": "inh", "n": 10, "model": "lif", "type": "inhibitory"},
            {"name": "wta", "n": 8, "model": "alif", "wta_k": 1},
            {"name": "gen", "n": 5, "model": "poisson", "rate_hz": 40.0},
        ],
        "connections": [
            {"pre": "input", "post": "exc", "rule": "fixed_prob", "p": 0.5, "synapse": "conductance",
             "weight": {"init": "uniform", "low": 0.0, "high": 0.2}, "delay_ms": {"low": 0.5, "high": 3.0},
             "plasticity": {"rule": "stdp_pair", "bound": "soft", "w_max": 0.3}},
            {"pre": "gen", "post": "exc", "weight": 3.0},
            {"pre": "exc", "post": "exc", "rule": "fixed_indegree", "k": 5, "weight": 1.0, "delay_ms": 1.0,
             "plasticity": {"rule": "stdp_triplet", "w_max": 2.0}},
            {"pre": "exc", "post": "inh", "rule": "fixed_prob", "p": 0.3, "weight": 2.0},
            {"pre": "inh", "post": "exc", "rule": "all_to_all", "weight": 0.5, "synapse": "conductance"},
            {"pre": "exc", "post": "wta", "weight": {"init": "uniform", "low": 0, "high": 2.0},
             "plasticity": {"rule": "rstdp", "w_max": 3.0}, "normalize": {"target": 30.0, "every_ms": 5.0}},
        ],
        "outputs": ["exc", "wta"],
    }


def test_chunk_invariance_bit_exact():
    params = _rich_params()
    n_in = 30
    T = 400_000
    idx, t = poisson_input(n_in, 25.0, T, seed=11)
    whole, wi, wt = _run_chunked(params, n_in, idx, t, [T])
    assert wi.size > 100
    rng = np.random.default_rng(0)
    for _ in range(3):
        cuts = np.unique(np.concatenate([rng.integers(1, T, rng.integers(1, 60)), [T]]))
        part, pi, pt = _run_chunked(params, n_in, idx, t, cuts.tolist())
        np.testing.assert_array_equal(pi, wi)
        np.testing.assert_array_equal(pt, wt)
        _assert_same_state(whole, part)


def test_rewards_chunk_invariant():
    params = _rich_params()
    n_in, T = 30, 200_000
    idx, t = poisson_input(n_in, 25.0, T, seed=2)
    rt = np.arange(10_000, T, 20_000)
    rv = np.where(np.arange(rt.size) % 2 == 0, 1.0, -0.5)
    results = []
    for cuts in ([T], [37_123, 90_000, 150_500, T]):
        snn = build_snn(params, n_in)
        snn.start(0)
        snn.reward(rt, rv)
        prev = 0
        for c in cuts:
            sel = (t >= prev) & (t < c)
            snn.advance(idx[sel], t[sel], c)
            prev = c
        results.append(snn)
    _assert_same_state(*results)
    w0 = build_snn(params, n_in).weights("exc->wta")
    assert not np.array_equal(results[0].weights("exc->wta"), w0)


def test_determinism_and_seed():
    params = _rich_params()
    idx, t = poisson_input(30, 20.0, 100_000, seed=1)
    a = build_snn(params, 30)
    b = build_snn(params, 30)
    ra, rb = a.advance(idx, t, 100_000), b.advance(idx, t, 100_000)
    np.testing.assert_array_equal(ra[0], rb[0])
    _assert_same_state(a, b)
    params2 = copy.deepcopy(params)
    params2["seed"] = 8
    c = build_snn(params2, 30)
    assert not np.array_equal(c.connectivity("input->exc")[0], a.connectivity("input->exc")[0])
    assert not np.array_equal(c.weights("exc->wta"), build_snn(params, 30).weights("exc->wta"))


def test_save_restore_continues_exactly(tmp_path):
    params = _rich_params()
    n_in, T, mid = 30, 300_000, 123_500
    idx, t = poisson_input(n_in, 25.0, T, seed=4)
    ref = build_snn(params, n_in)
    ri, rt = ref.advance(idx, t, T)
    a = build_snn(params, n_in)
    sel = t < mid
    i1, t1 = a.advance(idx[sel], t[sel], mid)
    path = tmp_path / "snn.npz"
    np.savez(path, **a.get_state())
    b = build_snn(params, n_in)
    with np.load(path) as z:
        b.set_state(dict(z))
    i2, t2 = b.advance(idx[~sel], t[~sel], T)
    np.testing.assert_array_equal(np.concatenate([i1, i2]), ri)
    np.testing.assert_array_equal(np.concatenate([t1, t2]), rt)
    _assert_same_state(ref, b)


def test_state_from_other_shape_is_refused(minimal_params):
    a = build_snn(minimal_params, 10)
    other = copy.deepcopy(minimal_params)
    other["layers"][0]["n"] = 65
    b = build_snn(other, 10)
    with pytest.raises(ValueError, match="another shape"):
        b.set_state(a.get_state())
    s = a.get_state()
    s["S"] = s["S"][:, :-1]
    with pytest.raises(ValueError, match="shape"):
        a.set_state(s)
    s = a.get_state()
    del s["w"]
    with pytest.raises(ValueError, match="missing"):
        a.set_state(s)


@pytest.mark.parametrize("dt_steps", [-30, -12, -3, -1, 0, 1, 2, 7, 25, 40])
def test_pair_stdp_matches_analytic_window(dt_steps):
    ap, am, tp, tm = 0.01, 0.012, 17.0, 23.0
    params = {
        "dt_us": 1000, "seed": 0,
        "layers": [{"name": "post", "n": 1, "model": "lif", "t_ref_ms": 5.0, "tau_exc_ms": 0.5}],
        "connections": [
            {"name": "plastic", "pre": "input", "post": "post", "rule": "all_to_all", "weight": 0.5,
             "plasticity": {"rule": "stdp_pair", "a_plus": ap, "a_minus": am, "tau_plus_ms": tp,
                            "tau_minus_ms": tm, "w_max": 1.0}},
            {"name": "drive", "pre": "input", "post": "post", "rule": "all_to_all", "weight": 1000.0}]}
    snn = build_snn(params, 2)
    # the drive kicks at step 99 -> post spikes at step 100; the plastic input fires at 100 - dt_steps
    t_drive, t_pre = 99_000, (100 - dt_steps) * 1000
    # input 1 only drives via "drive"; zero its plastic weight and input 0's drive weight
    w = snn.weights("plastic")
    w[1] = 0.0
    snn.set_weights("plastic", w)
    d = snn.weights("drive")
    d[0] = 0.0
    snn.set_weights("drive", d)
    ev = sorted([(t_drive, 1), (t_pre, 0)])
    t_in = np.array([e[0] for e in ev], np.int64)
    i_in = np.array([e[1] for e in ev], np.int64)
    oi, ot = snn.advance(i_in, t_in, 200_000)
    np.testing.assert_array_equal(ot, [100_000])
    dw = snn.weights("plastic")[0] - 0.5
    assert dw == pytest.approx(stdp_pair_window(dt_steps, ap, am, tp, tm), rel=1e-12, abs=1e-15)


def test_soft_bound_and_learning_switch(minimal_params):
    idx, t = poisson_input(500, 40.0, 200_000, seed=9)
    a = build_snn(minimal_params, 500)
    w0 = a.weights("input->hidden")
    a.learning = False
    a.advance(idx, t, 200_000)
    np.testing.assert_array_equal(a.weights("input->hidden"), w0)
    a.learning = True
    assert a.stats()["rates_hz"]["hidden"] > 1.0
    idx2, t2 = poisson_input(500, 40.0, 400_000, seed=10, t_start_us=200_000)
    a.advance(idx2, t2, 400_000)
    assert not np.array_equal(a.weights("input->hidden"), w0)


def test_bad_input_is_refused_or_counted(minimal_params):
    snn = build_snn(minimal_params, 10)
    with pytest.raises(ValueError, match="out of range"):
        snn.advance(np.array([10]), np.array([5]), 1000)
    with pytest.raises(ValueError, match="not sorted"):
        snn.advance(np.array([1, 2]), np.array([5000, 10]), 10_000)
    with pytest.raises(ValueError, match="equal length"):
        snn.advance(np.array([1, 2]), np.array([5]), 10_000)
    snn.advance(np.array([1]), np.array([0]), 5000)
    snn.advance(np.array([1, 2, 3]), np.array([100, 4000, 6000]), 8000)  # two are in the past
    assert snn.late_spikes == 2


def test_long_run_stays_finite_and_bounded():
    params = _rich_params()
    n_in = 30
    snn = build_snn(params, n_in)
    snn.start(0)
    rng = np.random.default_rng(1)
    T = 20_000_000  # 20 s of source time
    for c0 in range(0, T, 1_000_000):
        idx, t = poisson_input(n_in, float(rng.uniform(5, 80)), c0 + 1_000_000, seed=c0, t_start_us=c0)
        snn.reward(np.array([c0 + 500_000]), np.array([rng.normal()]))
        snn.advance(idx, t, c0 + 1_000_000)
    s = snn.get_state()
    for k, v in s.items():
        if v.dtype.kind == "f":
            assert np.all(np.isfinite(v)), k
    for proj, wmax in (("input->exc", 0.3), ("exc->exc", 2.0), ("exc->wta", 3.0)):
        w = snn.weights(proj)
        assert w.min() >= 0.0 and w.max() <= wmax, proj
    assert snn.stats()["rates_hz"]["exc"] > 0


def test_recording_and_outputs(minimal_params):
    snn = build_snn(minimal_params, 10)
    snn.record("hidden", "v", neurons=[0, 5])
    snn.record("hidden", "i_exc")
    idx, t = poisson_input(10, 50.0, 50_000, seed=0)
    snn.advance(idx[t < 20_000], t[t < 20_000], 20_000)
    snn.advance(idx[t >= 20_000], t[t >= 20_000], 50_000)
    tt, v = snn.recorded("hidden", "v")
    assert v.shape == (50, 2) and tt[0] == 0 and tt[-1] == 49_000
    np.testing.assert_array_equal(v[-1], snn.variable("hidden", "v")[[0, 5]])
    assert snn.recorded("hidden", "i_exc")[1].shape == (50, 64)
    with pytest.raises(ValueError, match="no variable"):
        snn.record("hidden", "q")


def test_random_initial_state_is_seeded():
    p = {"seed": 3, "layers": [{"name": "a", "n": 50, "model": "lif", "init": {"v": {"low": -70, "high": -52}}}]}
    v1 = build_snn(p, 1).variable("a", "v")
    v2 = build_snn(p, 1).variable("a", "v")
    np.testing.assert_array_equal(v1, v2)
    assert v1.min() >= -70 and v1.max() <= -52 and v1.std() > 3
    with pytest.raises(ValueError, match="init.v"):
        build_snn({"layers": [{"name": "a", "n": 2, "init": {"v": {"low": 0}}}]}, 1)
