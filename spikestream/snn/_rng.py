"""Counter-based RNG for kernels: splitmix64 on a one-element uint64 state array (saved with the network).

Plain numpy references live in tests/snn/reference.py. The state is an explicit array so that a restored
network continues the same random sequence.
"""

import numpy as np
from numba import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0


def seed_state(seed: int) -> np.ndarray:
    """The RNG state for a seed (any int; reduced modulo 2**64)."""
    return np.array([int(seed) % (1 << 64)], dtype=np.uint64)


@njit(cache=True)
def next_u64(state):
    s = state[0] + _GAMMA
    state[0] = s
    z = (s ^ (s >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def uniform(state):
    """Uniform in [0, 1) with 53 random bits."""
    return np.float64(next_u64(state) >> _S11) * _INV53


@njit(cache=True)
def normal(state):
    """Standard normal by Box-Muller (two uniforms per draw; no cached second value, so no hidden state)."""
    u1 = uniform(state)
    u2 = uniform(state)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
