"""Make this folder's plain-numpy references importable as `snn_reference` (unique name: tests run with
--import-mode=importlib and other areas have their own reference.py)."""

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("snn_reference", Path(__file__).with_name("reference.py"))
_mod = importlib.util.module_from_spec(_spec)
sys.modules["snn_reference"] = _mod
_spec.loader.exec_module(_mod)


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
