"""Small integration helpers shared by the neuron kernels."""

import numpy as np
from numba import njit


@njit(cache=True)
def exp_euler(x, a, b, h):
    """One exponential-Euler step of dx/dt = a + b*x with a, b frozen over the step (exact for linear x).

    The same scheme as Brian2's ``exponential_euler`` state updater."""
    if b == 0.0:
        return x + a * h
    xinf = -a / b
    return xinf + (x - xinf) * np.exp(b * h)
