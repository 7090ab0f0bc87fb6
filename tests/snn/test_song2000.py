"""Song, Miller & Abbott (2000), Nat Neurosci 3:919: additive pair STDP on 1000 Poisson excitatory inputs
onto one conductance-based LIF neuron (plus 200 fixed inhibitory Poisson inputs at 10 Hz).

Their model: tau_m 20 ms, V_rest -70, V_th -54, V_reset -60 mV, E_ex 0, E_in -70 mV, tau_ex = tau_in = 5 ms,
conductances relative to the leak, g_max 0.015, g_in 0.05, tau+ = tau- = 20 ms, A-/A+ = 1.05. Outcomes
checked (their Fig. 1 and 2):
* the weights end bimodal: most near 0 or near g_max, few in between;
* the output rate is regulated: doubling every input rate (10 -> 20 Hz) changes the learned output rate by
  less than 1.8x (measured here: 14.5 -> 22.1 Hz, 1.5x; 1.44-1.67x over other seeds), whereas with the
  weights learned at 10 Hz frozen the same doubling multiplies it more than 5x (measured: 15.7x).
To keep the test short, A+ = 0.01 g_max (the paper: 0.005 g_max) and all weights start at g_max, so
competition starts at once; dt = 0.1 ms.
"""

import numpy as np
import pytest

from spikestream.snn.network import build_snn

pytestmark = pytest.mark.slow

G_MAX, G_IN, A_REL, N_EXC = 0.015, 0.05, 0.01, 1000
LEARN_S = 400
MEASURE_S = 50


def network():
    stdp = {"rule": "stdp_pair", "a_plus": A_REL * G_MAX, "a_minus": 1.05 * A_REL * G_MAX, "tau_plus_ms": 20.0,
            "tau_minus_ms": 20.0, "w_min": 0.0, "w_max": G_MAX, "bound": "hard"}
    return build_snn({"dt_us": 100, "seed": 1, "outputs": ["out"], "layers": [
        {"name": "inh", "n": 200, "model": "poisson", "rate_hz": 10.0},
        {"name": "out", "n": 1, "model": "lif", "tau_m_ms": 20.0, "e_l": -70.0, "v_th": -54.0, "v_reset": -60.0,
         "t_ref_ms": 0.0, "tau_exc_ms": 5.0, "tau_inh_ms": 5.0, "e_exc": 0.0, "e_inh": -70.0}],
        "connections": [
            {"name": "exc", "pre": "input", "post": "out", "synapse": "conductance", "weight": G_MAX,
             "plasticity": stdp},
            {"name": "inh", "pre": "inh", "post": "out", "synapse": "conductance", "receptor": "inh",
             "weight": G_IN}]}, N_EXC)


def drive(snn, rate_hz, seconds, rng):
    """Poisson input at rate_hz on every excitatory input, one second per packet; output spikes per second."""
    counts = []
    t0 = snn.time_us
    for s in range(seconds):
        n = rng.poisson(rate_hz * N_EXC)
        t = np.sort(rng.integers(0, 1_000_000, n)) + t0 + s * 1_000_000
        oi, _ = snn.advance(rng.integers(0, N_EXC, n), t, t0 + (s + 1) * 1_000_000)
        counts.append(oi.size)
    return np.array(counts)


def learn(rate_hz, seed):
    snn = network()
    snn.start(0)
    rng = np.random.default_rng(seed)
    counts = drive(snn, rate_hz, LEARN_S, rng)
    return snn, counts[-MEASURE_S:].mean(), snn.weights("exc") / G_MAX, rng


def test_song2000_bimodal_weights_and_regulated_rate():
    snn10, r10, w10, rng10 = learn(10.0, seed=0)
    snn20, r20, w20, _ = learn(20.0, seed=1)

    # 1. bimodal weight distributions (Song et al. Fig. 1b)
    for rate, w in ((10, w10), (20, w20)):
        hist = np.histogram(w, bins=10, range=(0, 1))[0] / w.size
        msg = f"{rate} Hz inputs: weight histogram {np.round(hist, 3)}"
        print(msg)
        assert hist[0] + hist[-1] > 0.35, msg  # many weights within 10% of a bound
        assert hist[3:7].sum() < 0.3, msg  # few in the middle
        assert hist[0] > hist[1] and hist[-1] > hist[-2], msg  # a mode at each bound
        assert hist[1:-1].min() < 0.5 * min(hist[0], hist[-1]), msg  # with a trough between them

    # 2. rate regulation (Fig. 2): 2x the input rate, output nearly unchanged
    print(f"learned output rate: {r10:.1f} Hz (10 Hz inputs), {r20:.1f} Hz (20 Hz inputs)")
    assert r10 > 1 and r20 > 1
    assert r20 / r10 < 1.8, f"output {r10:.1f} Hz at 10 Hz inputs, {r20:.1f} Hz at 20 Hz"
    # control: the weights learned at 10 Hz, frozen, driven at 20 Hz
    snn10.learning = False
    r_frozen = drive(snn10, 20.0, 20, rng10).mean()
    print(f"weights learned at 10 Hz, frozen, 20 Hz inputs: {r_frozen:.1f} Hz")
    assert r_frozen / r10 > 5, f"frozen weights: {r10:.1f} -> {r_frozen:.1f} Hz"
