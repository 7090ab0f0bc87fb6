"""Connection rules, weight and delay initialisation, receptors, parameter validation."""

import numpy as np
import pytest
from snn_reference import poisson_input

from spikestream.snn import build_snn


def _net(conn, n_in=50, layer=None, seed=0):
    layer = layer or {"name": "b", "n": 40, "model": "lif"}
    return build_snn({"seed": seed, "layers": [layer], "connections": [conn]}, n_in)


def test_rules_shapes_and_seeding():
    a = _net({"pre": "input", "post": "b", "rule": "fixed_prob", "p": 0.2})
    pre, post, _ = a.connectivity("input->b")
    assert abs(pre.size / (50 * 40) - 0.2) < 0.03
    b = _net({"pre": "input", "post": "b", "rule": "fixed_prob", "p": 0.2})
    c = _net({"pre": "input", "post": "b", "rule": "fixed_prob", "p": 0.2}, seed=1)
    assert np.array_equal(a.connectivity("input->b")[0], b.connectivity("input->b")[0])
    assert not np.array_equal(a.connectivity("input->b")[1][:200], c.connectivity("input->b")[1][:200])
    # sorted by (pre, post), as documented
    order = np.lexsort((post, pre))
    assert np.array_equal(order, np.arange(pre.size))


def test_fixed_indegree_and_no_self_connections():
    s = _net({"pre": "b", "post": "b", "rule": "fixed_indegree", "k": 7})
    pre, post, _ = s.connectivity("b->b")
    assert np.all(np.bincount(post, minlength=40) == 7)
    assert not np.any(pre == post)
    assert len(set(zip(pre.tolist(), post.tolist()))) == pre.size   # no multapses
    a2a = _net({"pre": "b", "post": "b", "rule": "all_to_all"})
    assert a2a.connectivity("b->b")[0].size == 40 * 39
    one = _net({"pre": "b", "post": "b", "rule": "one_to_one", "weight": 2.0})
    p, q, _ = one.connectivity("b->b")
    assert np.array_equal(p, q) and p.size == 40


def test_distance_2d_prefers_neighbours():
    layer = {"name": "b", "shape": [10, 10], "model": "lif"}
    s = build_snn({"seed": 3, "layers": [{"name": "a", "shape": [20, 20], "model": "lif"}, layer],
                   "connections": [{"pre": "a", "post": "b", "rule": "distance_2d", "sigma": 1.5}]}, 1)
    pre, post, _ = s.connectivity("a->b")
    pr, pc = np.divmod(pre, 20)
    qr, qc = np.divmod(post, 10)
    d = np.hypot(pr - (qr * 2 + 0.5), pc - (qc * 2 + 0.5))
    assert pre.size > 100 and d.max() <= 4.5 + 1e-9 and d.mean() < 2.5


def test_weights_and_delays_init():
    s = _net({"pre": "input", "post": "b", "weight": {"init": "normal", "mean": 1.0, "std": 0.1},
              "delay_ms": {"low": 1.0, "high": 4.0}})
    w = s.weights("input->b")
    _, _, d = s.connectivity("input->b")
    assert abs(w.mean() - 1.0) < 0.02 and w.min() >= 0
    assert d.min() == 1 and d.max() == 4 and len(np.unique(d)) == 4


def test_delay_shifts_response_exactly():
    def first_spike(delay_ms):
        s = build_snn({"layers": [{"name": "b", "n": 1, "model": "lif", "tau_exc_ms": 0.3}],
                       "connections": [{"pre": "input", "post": "b", "weight": 2000.0, "delay_ms": delay_ms}]}, 1)
        _, t = s.advance(np.array([0]), np.array([10_000]), 100_000)
        return t[0] // 1000
    assert first_spike(0) == 11 and first_spike(3) == 14 and first_spike(7.4) == 18


@pytest.mark.parametrize("synapse", ["exp_current", "conductance"])
def test_inhibition_lowers_and_excitation_raises_v(synapse):
    w = 5.0 if synapse == "exp_current" else 0.5
    params = {"layers": [{"name": "e", "n": 1, "model": "lif"}, {"name": "i", "n": 1, "model": "lif", "type": "inhibitory"}],
              "connections": [{"pre": "input", "post": "e", "weight": w, "synapse": synapse, "name": "ex"},
                              {"pre": "input", "post": "i", "weight": w, "synapse": synapse, "receptor": "inh", "name": "in"}],
              "outputs": ["e", "i"]}
    s = build_snn(params, 1)
    s.advance(np.array([0]), np.array([0]), 3000)
    assert s.variable("e", "v")[0] > -60.0 > s.variable("i", "v")[0]


def test_poisson_layer_rate_and_bias():
    s = build_snn({"seed": 5, "layers": [{"name": "p", "n": 200, "model": "poisson", "rate_hz": 20.0}]}, 1)
    z = np.zeros(0, np.int64)
    _, t = s.advance(z, z, 2_000_000)
    assert abs(t.size / 200 / 2.0 - 20.0) < 1.0
    s.set_bias("p", 30.0)
    _, t = s.advance(z, z, 4_000_000)
    assert abs(t.size / 200 / 2.0 - 50.0) < 2.0


@pytest.mark.parametrize("bad,match", [
    ({"layers": []}, "non-empty"),
    ({"layers": [{"name": "input", "n": 2}]}, "reserved"),
    ({"layers": [{"name": "a", "n": 0}]}, "n must be"),
    ({"layers": [{"name": "a", "n": 2, "tau_m_ms": "x"}]}, "finite number"),
    ({"layers": [{"name": "a", "n": 2, "model": "izhikevich", "preset": "XX"}]}, "no preset"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "q", "post": "a"}]}, "not 'input' or a layer"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "rule": "nope"}]}, "unknown connection rule"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "p": 0.1}]}, "unexpected keyword"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "rule": "fixed_prob", "p": 2}]}, r"\[0, 1\]"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "weight": -1}]}, "magnitudes"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "plasticity": {"rule": "stdp_pair", "w_max": -1}}]}, "w_max"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "plasticity": {"rule": "stdp_pair", "tau_plus_ms": 0}}]}, "tau_plus_ms"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "plasticity": {"rule": "hebb"}}]}, "unknown learning rule"),
    ({"layers": [{"name": "a", "n": 2}], "connections": [{"pre": "input", "post": "a", "synapse": "nmda"}]}, "synapse must be"),
    ({"layers": [{"name": "a", "n": 2}], "dt": 5}, "unknown key"),
    ({"layers": [{"name": "a", "n": 2}], "outputs": ["zz"]}, "not a layer"),
    ({"layers": [{"name": "a", "n": 2, "model": "poisson", "rate_hz": 5000}]}, "rate_hz"),
    ({"layers": [{"name": "a", "n": 2, "substep_ms": 1e-7}]}, "sub-steps"),
    ({"layers": [{"name": "a", "n": 200_000}], "connections": [{"pre": "a", "post": "a", "rule": "one_to_one", "delay_ms": 29000.0}]}, "ring buffer"),
])
def test_bad_params_give_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        build_snn(bad, 3)


@pytest.mark.parametrize("plasticity", [None, {"rule": "stdp_pair", "bound": "soft", "w_max": 1.5},
                                        {"rule": "stdp_triplet", "w_max": 1.5},
                                        {"rule": "rstdp", "w_max": 1.5}])
@pytest.mark.parametrize("delay", [0.0, 2.0])
def test_dense_and_sparse_storage_agree_exactly(plasticity, delay):
    def run(storage):
        conn = {"pre": "input", "post": "b", "weight": {"init": "uniform", "low": 0, "high": 1.0},
                "delay_ms": delay, "storage": storage, "normalize": {"target": 15.0, "every_ms": 50.0}}
        rec = {"pre": "b", "post": "b", "rule": "all_to_all", "allow_self": True, "weight": 0.05,
               "storage": storage, "receptor": "inh"}
        if plasticity:
            conn["plasticity"] = dict(plasticity)
        s = build_snn({"seed": 1, "layers": [{"name": "b", "n": 12, "model": "lif", "i_bias": 8.0}],
                       "connections": [conn, rec]}, 30)
        s.start(0)
        s.reward(np.array([100_000, 300_000]), np.array([1.0, -0.5]))
        idx, t = poisson_input(30, 40.0, 500_000, seed=2)
        return s, s.advance(idx, t, 500_000)
    (sd, (oi_d, ot_d)), (ss, (oi_s, ot_s)) = run("dense"), run("sparse")
    assert sd._layout.projections["input->b"]["dense"] and not ss._layout.projections["input->b"]["dense"]
    assert oi_d.size > 20
    np.testing.assert_array_equal(oi_d, oi_s)
    np.testing.assert_array_equal(ot_d, ot_s)
    np.testing.assert_array_equal(sd.weights("input->b"), ss.weights("input->b"))
    for a, b in zip(sd.connectivity("input->b"), ss.connectivity("input->b")):
        np.testing.assert_array_equal(a, b)


def test_dense_storage_refused_where_impossible():
    with pytest.raises(ValueError, match="dense"):
        _net({"pre": "input", "post": "b", "rule": "fixed_prob", "p": 0.5, "storage": "dense"})
    with pytest.raises(ValueError, match="dense"):
        _net({"pre": "input", "post": "b", "storage": "dense", "delay_ms": {"low": 1, "high": 2}})
