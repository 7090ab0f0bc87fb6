"""Shared by the SNN tests: a script run in a fresh interpreter (the "add a new X from one file" tests, whose toy
plugins must not join the test process's registries), and the two-input network that pairs pre and post spikes
for the learning-rule tests.

Importable as ``snn_helpers`` both under pytest (tests/conftest.py) and inside `run_script`'s interpreter (its
path holds tests/snn, like the toy plugin modules)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def run_script(script: str, timeout_s: float = 900) -> dict:
    """Run `script` with ``python -c`` in tests/snn, with tests/snn on its path (``import toy_neuron_model``,
    ``from snn_helpers import pair_net``); return the JSON object its last line of output prints."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=timeout_s,
                       cwd=HERE)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def pair_net(plasticity, w0=0.5, storage=None):
    """Input 0 -> post through the plastic synapse (weight `w0`); input 1 drives the post neuron to spike one step
    after each of its spikes (strong, fast synapse). `storage`: the plastic connection's, or its default."""
    from spikestream.snn import build_snn

    plastic = {"name": "plastic", "pre": "input", "post": "post", "weight": w0, "plasticity": plasticity}
    if storage is not None:
        plastic["storage"] = storage
    params = {
        "dt_us": 1000, "seed": 0,
        "layers": [{"name": "post", "n": 1, "model": "lif", "t_ref_ms": 3.0, "tau_exc_ms": 0.3}],
        "connections": [plastic, {"name": "drive", "pre": "input", "post": "post", "weight": 2000.0}]}
    snn = build_snn(params, 2)
    snn.set_weights("plastic", [w0, 0.0])
    snn.set_weights("drive", [0.0, 2000.0])
    return snn


def drive(snn, pre_ms, post_ms, T_ms) -> list:
    """Pre spikes at `pre_ms` on input 0, post spikes made at `post_ms` through input 1, for `T_ms`; returns the
    post neuron's spike times (ms)."""
    ev = sorted([(t * 1000, 0) for t in pre_ms] + [((t - 1) * 1000, 1) for t in post_ms])
    t = np.array([e[0] for e in ev], np.int64)
    i = np.array([e[1] for e in ev], np.int64)
    _, out_t = snn.advance(i, t, T_ms * 1000)
    return (out_t // 1000).tolist()
