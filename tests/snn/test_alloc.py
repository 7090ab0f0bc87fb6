"""The step loop allocates nothing per step: Numba's allocation count of one kernel call does not grow with
the number of steps (checked in a subprocess, because NRT statistics must be on before Numba starts)."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, numpy as np
from numba.core.runtime import rtsys
from spikestream.snn import build_snn
from spikestream.snn.kernel import run
p = {"dt_us": 1000, "seed": 1,
     "layers": [{"name": "a", "n": 30, "model": "lif", "noise": 1.0, "theta_plus": 0.1, "tau_theta_ms": 100.0},
                {"name": "b", "n": 5, "model": "izhikevich", "wta_k": 1}, {"name": "c", "n": 4, "model": "hh"},
                {"name": "p", "n": 5, "model": "poisson", "rate_hz": 50.0}],
     "connections": [
        {"pre": "input", "post": "a", "weight": 0.5, "delay_ms": {"low": 0, "high": 3},
         "plasticity": {"rule": "stdp_triplet"}},
        {"pre": "p", "post": "a", "weight": 3.0},
        {"pre": "a", "post": "b", "rule": "fixed_prob", "p": 0.5, "weight": 2.0, "plasticity": {"rule": "rstdp"},
         "normalize": {"target": 20.0, "every_ms": 5.0}},
        {"pre": "a", "post": "c", "weight": 0.2, "synapse": "conductance", "delay_ms": 1.0}]}
s = build_snn(p, 20)
net, st = s._net, s._st
N = net.n_neurons
def call(n_steps, step0):
    in_step = np.repeat(np.arange(step0, step0 + n_steps), 3)
    in_idx = np.tile(np.array([1, 5, 9]), n_steps)
    rw_s = np.array([step0 + 1]); rw_c = np.array([0]); rw_v = np.array([0.5])
    out_s = np.empty(n_steps * 50, np.int64); out_i = np.empty(n_steps * 50, np.int64)
    z = np.zeros(0, np.int64)
    a0 = rtsys.get_allocation_stats().alloc
    r = run(net, st, step0, n_steps, in_step, in_idx, rw_s, rw_c, rw_v, True, out_s, out_i, z, z,
            np.empty((n_steps, 0)), s._spk, s._vpk, s._spikes, s._lost)
    return rtsys.get_allocation_stats().alloc - a0, int(r[1])
call(5, 0)
a_short, n1 = call(10, 5)
a_long, n2 = call(2000, 15)
print(json.dumps({"short": a_short, "long": a_long, "spikes": n2}))
"""


@pytest.mark.slow  # NRT statistics change the compile flags: the whole engine recompiles (~30 s)
def test_kernel_allocates_nothing_per_step():
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["spikes"] > 100
    assert res["long"] == res["short"], res
