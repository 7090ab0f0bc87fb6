"""Small helpers shared by the neuron kernels: the integration scheme, and the pieces of every model's step
loop that do not depend on the model (the layer constants; the synaptic variables: load, decay, current,
store; a reset model's spike bookkeeping). Each model keeps its own equations, its noise line and its
threshold test in its ``model_*.py``.

Speed: a helper called on every sub-step takes and returns scalars. One that took arrays there (the rng
for the noise, refr/spk/vpk for the threshold test) made the LIF and Izhikevich kernels 2-3x slower
(Numba reference counting inside the loop); `mark_spike` takes arrays but runs only inside the rare
spike branch, and load_syn/store_syn once per neuron, which costs nothing measurable.
`spikestream._jitcache` clears the package's Numba cache when this file changes.
"""

import numpy as np
from numba import njit

from spikestream.snn.neuron import C_DEXC, C_DINH, C_EEXC, C_EINH, C_H, C_NOISE, C_NSUB, C_REF


@njit(cache=True)
def exp_euler(x, a, b, h):
    """One exponential-Euler step of dx/dt = a + b*x with a, b frozen over the step (exact for linear x).

    The same scheme as Brian2's ``exponential_euler`` state updater."""
    if b == 0.0:
        return x + a * h
    xinf = -a / b
    return xinf + (x - xinf) * np.exp(b * h)


@njit(cache=True, inline="always")
def layer_constants(pc):
    """The common per-layer values a kernel needs from `pc`:
    (e_exc, e_inh, decay_exc, decay_inh, n_substeps, h_ms, refractory_steps, noise, sqrt(h_ms))."""
    h = pc[C_H]
    return (pc[C_EEXC], pc[C_EINH], pc[C_DEXC], pc[C_DINH], int(pc[C_NSUB]), h, int(pc[C_REF]), pc[C_NOISE],
            np.sqrt(h))


@njit(cache=True, inline="always")
def load_syn(syn, i):
    """Neuron i's synaptic variables: exc. current, inh. current, exc. conductance, inh. conductance."""
    return syn[0, i], syn[1, i], syn[2, i], syn[3, i]


@njit(cache=True, inline="always")
def store_syn(syn, i, ie, ii, ge, gi):
    syn[0, i] = ie
    syn[1, i] = ii
    syn[2, i] = ge
    syn[3, i] = gi


@njit(cache=True, inline="always")
def decay_syn(ie, ii, ge, gi, dexc, dinh):
    """The synaptic variables after one sub-step of exponential decay."""
    return ie * dexc, ii * dinh, ge * dexc, gi * dinh


@njit(cache=True, inline="always")
def syn_current(ib, ie, ii, ge, gi, e_exc, e_inh, v):
    """Input current at potential v: bias + current synapses + conductances towards their reversal."""
    return ib + ie - ii + ge * (e_exc - v) + gi * (e_inh - v)


@njit(cache=True, inline="always")
def mark_spike(v, ref, refr, spk, vpk, i):
    """A reset model's neuron i fires at value v: flag it, keep v for k-WTA and start `ref` refractory steps
    (the caller then resets its own variables). `spk[i]` counts the crossings of this step (saturating at
    127): the network emits one spike and counts the others as lost (`SNN.lost_spikes`)."""
    if spk[i] < 127:
        spk[i] += 1
    vpk[i] = v
    if ref > 0:
        refr[i] = ref
