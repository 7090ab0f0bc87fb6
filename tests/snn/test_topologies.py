"""Named templates: expansion, validation, and a synfire chain that carries a volley (or lets it die)."""

import numpy as np
import pytest

from spikestream.snn.conv import ConvLayer
from spikestream.snn.network import build_snn
from spikestream.snn.topologies import TOPOLOGIES, build_topology, expand


def volley(n, t0_us=10_000, jitter_us=1000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(n).astype(np.int64), np.sort(rng.integers(t0_us, t0_us + jitter_us, n))


def run_chain(**kw):
    G, S = 8, 100
    snn = build_topology("synfire", {"n_groups": G, "group_size": S, **kw}, S)
    snn.start(0)
    idx, t = volley(S)
    oi, ot = snn.advance(idx, t, 80_000)
    g = oi // S
    return [ot[g == k] for k in range(G)]


def test_synfire_volley_propagates_and_stays_synchronous():
    groups = run_chain()  # defaults: p = 0.5, 4 mV, 2 ms delay, noise 0.5
    for k, s in enumerate(groups):
        assert s.size >= 90, f"group {k}: only {s.size} of 100 neurons fired"
        assert s.size <= 110, f"group {k}: {s.size} spikes, the volley should be one spike per neuron"
    means = np.array([s.mean() for s in groups])
    gaps = np.diff(means)
    assert np.all(gaps > 2000) and np.all(gaps < 6000)  # delay 2 ms + rise time, every link
    assert groups[-1].std() < groups[0].std()  # the chain synchronises the volley (Diesmann et al. 1999)
    assert groups[-1].std() < 1000


def test_synfire_weak_links_let_the_volley_die():
    groups = run_chain(weight=1.0)
    assert groups[0].size >= 90
    assert groups[-1].size < 10


def test_templates_expand_and_build():
    assert {"reservoir", "synfire", "feedforward"} <= set(TOPOLOGIES.names())
    t = expand("reservoir", {"n_exc": 40, "n_inh": 10})
    snn = build_snn(t, 8)
    assert snn.n_outputs == 50 and snn.n_inputs == 8
    ff = build_topology("feedforward", {"sizes": [20, 5], "plasticity": {"rule": "stdp_pair"}}, 10)
    assert ff.n_outputs == 5
    conv = build_topology("conv", {"in_channels": 2, "height": 8, "width": 8, "kernel": 3}, 128)
    assert isinstance(conv, ConvLayer)


def test_template_errors_are_clear():
    with pytest.raises(ValueError, match="unknown parameter"):
        expand("synfire", {"n_group": 3})
    with pytest.raises(KeyError, match="unknown snn topology"):
        expand("hopfield", {})
    with pytest.raises(ValueError, match="p_rec"):
        expand("reservoir", {"p_rec": 1.5})
    with pytest.raises(ValueError, match="n_groups"):
        expand("synfire", {"n_groups": 0})
    with pytest.raises(ValueError, match="input has"):
        build_topology("conv", {"in_channels": 2, "height": 8, "width": 8, "kernel": 3}, 100)
    with pytest.raises(ValueError, match="conv"):
        build_topology("conv", {"kernels": 3}, 100)


def test_expanded_tables_are_independent():
    a = expand("reservoir", {"n_exc": 10, "n_inh": 2})
    a["connections"][1]["delay_ms"]["high"] = 99.0
    b = expand("reservoir", {"n_exc": 10, "n_inh": 2})
    assert b["connections"][1]["delay_ms"]["high"] == 3.0
