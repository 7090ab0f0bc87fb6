"""An hour of simulated streaming with learning on: nothing diverges, nothing goes NaN, weights stay bounded."""

import numpy as np
import pytest
from snn_reference import poisson_input

from spikestream.snn import build_snn


@pytest.mark.slow
def test_one_hour_of_learning_stays_finite_and_bounded():
    params = {
        "dt_us": 1000, "seed": 11,
        "layers": [
            {"name": "exc", "n": 40, "model": "lif", "noise": 0.5, "theta_plus": 0.05, "tau_theta_ms": 5000.0},
            {"name": "inh", "n": 10, "model": "lif", "type": "inhibitory"},
            {"name": "adx", "n": 5, "model": "adex"},
            {"name": "izh", "n": 5, "model": "izhikevich", "preset": "CH"},
        ],
        "connections": [
            {"pre": "input", "post": "exc", "rule": "fixed_prob", "p": 0.5, "synapse": "conductance",
             "weight": {"init": "uniform", "low": 0, "high": 0.3}, "delay_ms": {"low": 0, "high": 3},
             "plasticity": {"rule": "stdp_pair", "w_max": 0.3}},
            {"pre": "exc", "post": "exc", "rule": "fixed_indegree", "k": 5, "weight": 1.0,
             "plasticity": {"rule": "stdp_triplet", "w_max": 2.0}},
            {"pre": "exc", "post": "inh", "weight": 1.0},
            {"pre": "inh", "post": "exc", "weight": 0.3, "synapse": "conductance"},
            {"pre": "exc", "post": "adx", "weight": {"init": "uniform", "low": 0, "high": 100.0},
             "plasticity": {"rule": "rstdp", "w_max": 200.0}, "normalize": {"target": 2000.0, "every_ms": 1000.0}},
            {"pre": "exc", "post": "izh", "weight": 2.0, "plasticity": {"rule": "stdp_pair", "bound": "soft", "w_max": 5.0}},
        ],
        "outputs": ["exc", "adx", "izh"],
    }
    snn = build_snn(params, 30)
    snn.start(0)
    rng = np.random.default_rng(0)
    chunk = 10_000_000  # 10 s packets, 360 of them
    n_out = 0
    for c0 in range(0, 3600_000_000, chunk):
        idx, t = poisson_input(30, float(rng.uniform(2, 60)), c0 + chunk, seed=c0 // chunk, t_start_us=c0)
        snn.reward(np.array([c0 + chunk // 2]), np.array([rng.normal()]))
        oi, _ = snn.advance(idx, t, c0 + chunk)
        n_out += oi.size
    state = snn.get_state()
    for k, v in state.items():
        if v.dtype.kind == "f":
            assert np.all(np.isfinite(v)), k
    for proj, wmax in (("input->exc", 0.3), ("exc->exc", 2.0), ("exc->adx", 200.0), ("exc->izh", 5.0)):
        w = snn.weights(proj)
        assert w.min() >= 0.0 and w.max() <= wmax, proj
    assert n_out > 10_000
    assert snn.time_us == 3600_000_000
