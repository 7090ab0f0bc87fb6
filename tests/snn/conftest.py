"""The SNN tests' own fixtures (helper modules such as `snn_reference`: tests/conftest.py)."""

import pytest


@pytest.fixture
def minimal_params():
    """The minimal example of docs/snn.md."""
    return {
        "dt_us": 1000, "seed": 1,
        "layers": [{"name": "hidden", "n": 64, "model": "lif"}],
        "connections": [{
            "pre": "input", "post": "hidden", "rule": "all_to_all",
            "weight": {"init": "uniform", "low": 0.0, "high": 0.3}, "synapse": "exp_current", "delay_ms": 1.0,
            "plasticity": {"rule": "stdp_pair", "a_plus": 0.01, "a_minus": 0.0105, "tau_plus_ms": 20,
                           "tau_minus_ms": 20, "w_max": 1.0}}],
        "outputs": ["hidden"],
    }
