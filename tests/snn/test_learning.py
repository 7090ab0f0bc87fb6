"""Learning rules and homeostasis: triplet STDP against its reference, R-STDP, normalisation,
adaptive thresholds, winner-take-all."""

import numpy as np
import pytest
from snn_helpers import drive
from snn_helpers import pair_net as _pair_net
from snn_reference import bcm_dw, poisson_input, triplet_dw

from spikestream.snn import build_snn
from spikestream.snn.learning import PC, build_rule
from spikestream.snn.rule_stdp_triplet import TRIPLET_PRESETS


def _drive(snn, pre_ms, post_ms, T_ms):
    assert drive(snn, pre_ms, post_ms, T_ms) == sorted(post_ms)


@pytest.mark.parametrize("preset", sorted(TRIPLET_PRESETS))
def test_triplet_matches_reference(preset):
    rng = np.random.default_rng(len(preset))
    pre = np.sort(rng.choice(np.arange(10, 990), 25, replace=False))
    post = np.sort(rng.choice(np.arange(10, 990, 6), 20, replace=False))  # >= 6 ms apart (refractory)
    pr = TRIPLET_PRESETS[preset]
    snn = _pair_net({"rule": "stdp_triplet", "preset": preset, "w_max": 10.0}, w0=5.0)
    _drive(snn, pre.tolist(), post.tolist(), 1000)
    expect = triplet_dw(pre.tolist(), post.tolist(), a2p=pr["a2_plus"], a3p=pr["a3_plus"], a2m=pr["a2_minus"],
                        a3m=pr["a3_minus"], tau_plus=16.8, tau_minus=33.7, tau_x=pr["tau_x_ms"],
                        tau_y=pr["tau_y_ms"], nearest=pr["interaction"] == "nearest")
    assert abs(expect) > 1e-4
    assert snn.weights("plastic")[0] - 5.0 == pytest.approx(expect, rel=1e-9, abs=1e-13)


def test_bcm_matches_reference():
    """stdp_bcm (triplet STDP whose pair depression scales with the post neuron's running rate squared)
    against the equations evaluated with exact exponentials; the sliding threshold changes the result."""
    rng = np.random.default_rng(7)
    pre = np.sort(rng.choice(np.arange(10, 1990), 60, replace=False))
    post = np.sort(rng.choice(np.arange(10, 1990, 6), 50, replace=False))
    pr = TRIPLET_PRESETS["visual_all_to_all"]
    snn = _pair_net({"rule": "stdp_bcm", "w_max": 10.0, "tau_rate_ms": 300.0, "rate_hz": 10.0}, w0=5.0)
    _drive(snn, pre.tolist(), post.tolist(), 2000)
    kw = dict(a2p=pr["a2_plus"], a3p=pr["a3_plus"], a2m=pr["a2_minus"], a3m=pr["a3_minus"], tau_plus=16.8,
              tau_minus=33.7, tau_x=pr["tau_x_ms"], tau_y=pr["tau_y_ms"])
    # a fresh network's state is that after step -1: step t decays the traces first, so rho_init is at -1 ms
    expect = bcm_dw(pre.tolist(), post.tolist(), tau_rate=300.0, rho0=10.0, rho_init=10.0, t0=-1.0, **kw)
    assert snn.weights("plastic")[0] - 5.0 == pytest.approx(expect, rel=1e-9, abs=1e-13)
    assert abs(expect - triplet_dw(pre.tolist(), post.tolist(), **kw)) > 0.1 * abs(expect)
    # the running rate itself: rho decays with tau_rate and each post spike adds 1000 / tau_rate Hz (the last
    # step run is 1999; a spike at step t is added after that step's decay)
    rho = 10.0 * np.exp(-2000 / 300.0) + sum(1000.0 / 300.0 * np.exp(-(1999 - t) / 300.0) for t in post)
    assert snn.get_state()["rho"][0] == pytest.approx(rho, rel=1e-9)


def test_bcm_default_reference_rate_is_the_triplet_threshold():
    """rate_hz defaults to the rate at which the parameter set's triplet rule turns from depression to
    potentiation, a2_minus tau_minus / (a3_plus tau_plus tau_y): 18.1 Hz for visual_all_to_all."""
    _, pp = build_rule({"rule": "stdp_bcm"}, 1.0)
    assert pp[PC.rate0] == pytest.approx(7e-3 * 33.7e-3 / (6.2e-3 * 16.8e-3 * 125e-3), rel=1e-12)
    with pytest.raises(ValueError, match="rate_hz"):
        build_rule({"rule": "stdp_bcm", "rate_hz": -1.0}, 1.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        build_rule({"rule": "stdp_bcm", "tau_s": 1.0}, 1.0)


def test_bcm_threshold_slides_with_the_post_rate():
    """The same pairing protocol (pre then post +10 ms, 20 pairs at 20 Hz) after 4 s of post firing alone at
    2 Hz or at 50 Hz (no pre spikes, so no weight change then): under stdp_bcm the quiet neuron potentiates
    and the busy one depresses (its threshold has slid up); plain triplet STDP gives the same change."""
    def run(rule, hz):
        snn = _pair_net({"rule": rule, "w_max": 10.0, "rate_hz": 10.0, "tau_rate_ms": 2000.0}
                        if rule == "stdp_bcm" else {"rule": rule, "w_max": 10.0}, w0=5.0)
        hist = (np.arange(int(4 * hz)) * (1000 // hz) + 20).tolist()
        _drive(snn, [], hist, 4100)
        assert snn.weights("plastic")[0] == 5.0
        base = np.arange(20) * 50 + 5000
        _drive(snn, base.tolist(), (base + 10).tolist(), 6100)
        return snn.weights("plastic")[0] - 5.0, snn.get_state()["rho"]
    (quiet, rq), (busy, rb) = run("stdp_bcm", 2), run("stdp_bcm", 50)
    assert busy < 0 < quiet
    assert rb[0] > 10.0 > rq[0]
    t_quiet, _ = run("stdp_triplet", 2)
    t_busy, _ = run("stdp_triplet", 50)
    assert t_quiet > 0 and t_busy == pytest.approx(t_quiet, rel=1e-2)


def test_bcm_running_rate_is_saved_restored_and_checked():
    snn = _pair_net({"rule": "stdp_bcm", "w_max": 10.0, "rate_hz": 10.0}, w0=5.0)
    _drive(snn, [100, 300], [105, 110, 200, 320], 400)
    st = snn.get_state()
    assert st["rho"].shape == (1,) and st["rho"][0] != 10.0
    other = _pair_net({"rule": "stdp_bcm", "w_max": 10.0, "rate_hz": 10.0}, w0=5.0)
    other.set_state(st)
    assert other.get_state()["rho"][0] == st["rho"][0]
    for bad in (np.array([-1.0]), np.array([np.nan]), np.zeros(2)):
        with pytest.raises(ValueError, match="rho"):
            other.set_state({**st, "rho": bad})
    assert other.get_state()["rho"][0] == st["rho"][0]
    with pytest.raises(ValueError, match="rho"):
        other.set_state({k: v for k, v in st.items() if k != "rho"})
    # a state saved before the running rate existed still loads into a network without stdp_bcm
    pair = _pair_net({"rule": "stdp_pair", "w_max": 10.0}, w0=5.0)
    old = {k: v for k, v in pair.get_state().items() if k != "rho"}
    pair.set_state(old)


def test_triplet_frequency_dependence():
    """Pfister & Gerstner Fig. 4: with pairs at +-10 ms, potentiation grows with the pairing frequency,
    and at high frequency post-pre pairs (dt = -10 ms) also potentiate."""
    def dw(freq, dt):
        period = int(1000 / freq)
        base = np.arange(60) * period + 20
        snn = _pair_net({"rule": "stdp_triplet", "preset": "visual_all_to_all", "w_max": 10.0}, w0=5.0)
        pre, post = (base, base + dt) if dt > 0 else (base - dt, base)
        _drive(snn, pre.tolist(), post.tolist(), int(base[-1] + 50))
        return snn.weights("plastic")[0] - 5.0
    assert dw(1, -10) < 0 < dw(1, 10)
    assert dw(20, 10) > dw(1, 10) and dw(40, -10) > 0


def test_pair_soft_bound_scales_with_distance_to_bound():
    changes = []
    for w0 in (0.2, 0.8):
        snn = _pair_net({"rule": "stdp_pair", "bound": "soft", "a_plus": 0.1, "a_minus": 0.1, "w_max": 1.0},
                        w0=w0)
        _drive(snn, [100], [105], 200)
        changes.append(snn.weights("plastic")[0] - w0)
    # potentiation proportional to (w_max - w): 0.8 vs 0.2 remaining room
    assert changes[0] / changes[1] == pytest.approx(0.8 / 0.2, rel=1e-12)


def _rstdp_net():
    return _pair_net({"rule": "rstdp", "a_plus": 0.1, "a_minus": 0.1, "w_max": 1.0, "tau_elig_ms": 200.0,
                      "tau_reward_ms": 50.0, "lr": 0.01}, w0=0.5)


@pytest.mark.parametrize("reward,sign", [(1.0, 1), (-1.0, -1), (0.0, 0)])
def test_rstdp_reward_gates_the_change(reward, sign):
    snn = _rstdp_net()
    snn.start(0)
    snn.reward(np.array([150_000]), np.array([reward]))
    _drive(snn, [100], [105], 400)     # causal pairing -> positive eligibility
    dw = snn.weights("plastic")[0] - 0.5
    assert np.sign(dw) == sign
    if sign:
        # a reward that comes much later acts on a decayed eligibility: smaller change
        late = _rstdp_net()
        late.start(0)
        late.reward(np.array([800_000]), np.array([reward]))
        _drive(late, [100], [105], 1100)
        assert 0 < abs(late.weights("plastic")[0] - 0.5) < abs(dw)


def test_normalisation_keeps_incoming_sum():
    params = {"dt_us": 1000, "seed": 4,
              "layers": [{"name": "out", "n": 6, "model": "lif"}],
              "connections": [{"pre": "input", "post": "out", "weight": {"init": "uniform", "low": 0, "high": 1},
                               "plasticity": {"rule": "stdp_pair", "w_max": 5.0},
                               "normalize": {"target": 7.5, "every_ms": 10.0}}]}
    snn = build_snn(params, 40)
    idx, t = poisson_input(40, 50.0, 95_000, seed=1)
    snn.advance(idx, t, 100_000)      # step 99 ends a normalisation period
    m = snn.weight_matrix("input->out")
    np.testing.assert_allclose(m.sum(axis=0), 7.5, rtol=1e-12)


def test_adaptive_threshold_grows_while_learning_only():
    params = {"dt_us": 1000, "seed": 0,
              "layers": [{"name": "n", "n": 3, "model": "lif", "i_bias": 30.0, "theta_plus": 0.5,
                          "tau_theta_ms": 1e4}]}
    snn = build_snn(params, 1)
    z = np.zeros(0, np.int64)
    snn.start(0)
    _, t1 = snn.advance(z, z, 500_000)
    th = snn.variable("n", "theta")
    assert np.all(th > 1.0)
    _, t2 = snn.advance(z, z, 1_000_000)
    assert len(t2) < len(t1)          # the raised threshold lowers the rate
    snn.learning = False
    th2 = snn.variable("n", "theta")
    snn.advance(z, z, 1_100_000)
    assert np.all(snn.variable("n", "theta") < th2)   # decays only


def test_wta_allows_at_most_k_per_step():
    params = {"dt_us": 1000, "seed": 0,
              "layers": [{"name": "n", "n": 20, "model": "lif", "wta_k": 2, "t_ref_ms": 0.0}],
              "connections": [{"pre": "input", "post": "n", "weight": {"init": "uniform", "low": 5, "high": 20}}]}
    snn = build_snn(params, 10)
    idx, t = poisson_input(10, 300.0, 300_000, seed=0)
    oi, ot = snn.advance(idx, t, 300_000)
    counts = np.bincount(ot // 1000)
    assert counts.max() == 2 and len(oi) > 200
    # without WTA the same drive makes many neurons fire together
    params["layers"][0]["wta_k"] = 0
    _, ot2 = build_snn(params, 10).advance(idx, t, 300_000)
    assert np.bincount(ot2 // 1000).max() > 5


def test_kind_selects_the_rule_in_the_library_as_in_a_pipeline_file():
    """`plasticity = {kind = ...}` (the one selector key) builds the same network as `rule = ...`; naming two
    different rules is refused."""
    pre, post = [100, 300, 520], [105, 290, 530]
    a = _pair_net({"rule": "stdp_triplet", "w_max": 10.0}, w0=5.0)
    b = _pair_net({"kind": "stdp_triplet", "w_max": 10.0}, w0=5.0)
    for snn in (a, b):
        _drive(snn, pre, post, 1000)
    assert a.weights("plastic")[0] != 5.0 and a.weights("plastic")[0] == b.weights("plastic")[0]
    with pytest.raises(ValueError, match="two rules"):
        _pair_net({"kind": "stdp_pair", "rule": "stdp_triplet"})
