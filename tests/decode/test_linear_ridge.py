"""`linear_rls` with ``ridge``: when calibration ends the readout is refitted in closed form as ridge regression
over the calibration packets, with a penalty relative to the mean squared rate (spikestream/decode/linear.py).

RLS's own prior is absolute (P_0 = I / reg): at rates of tens of spikes/s it regularises nothing, and a rate
that is nearly silent during a short calibration can be given a huge weight. On the demo that made 2 of 12
calibrations fail outright (r 0.36 and -0.002, docs/learning.md)."""

import numpy as np
import pytest

from spikestream.decode.linear import ridge_fit
from spikestream.registry import DECODERS


def _run(rates_hz, y, **kw):
    rng = np.random.default_rng(0)
    n = rates_hz.shape[1]
    dec = DECODERS.create("linear_rls", n_inputs=n, n_outputs=y.shape[1], tau_ms=50.0, forgetting=1.0,
                          calibrating=True, **kw)
    X = []
    for k in range(len(y)):
        counts = rng.poisson(rates_hz[k] * 0.01)
        idx = np.repeat(np.arange(n), counts).astype(np.int64)
        t = np.full(idx.size, k * 10_000 + 5_000, np.int64)
        dec.decode(idx, t, (k + 1) * 10_000, y[k])
        X.append(dec.x.copy())
    dec.calibrating = False  # ends the calibration: the refit
    return dec, np.array(X)


def _signal(n_packets=1000, n=6, seed=1):
    rng = np.random.default_rng(seed)
    z = np.cumsum(rng.standard_normal((n_packets, 1)), axis=0)
    z = (z - z.min()) / (z.max() - z.min())
    rates = 20 + 60 * z * rng.uniform(0.2, 1.0, n)  # every rate follows the latent, with its own gain
    return rates, z


def test_the_refit_is_the_closed_form_ridge_solution_over_the_calibration_packets():
    rates, y = _signal()
    dec, X = _run(rates, y, ridge=0.05)
    lam = 0.05 * np.mean(np.sum(X[:, :-1] ** 2, axis=0))
    A = X.T @ X + np.diag(np.r_[np.full(X.shape[1] - 1, lam), 0.0])
    np.testing.assert_allclose(dec.W, np.linalg.solve(A, X.T @ y), rtol=1e-8, atol=1e-10)
    plain, _ = _run(rates, y)  # ridge = 0: RLS's own solution, untouched
    assert not np.allclose(plain.W, dec.W)


def test_the_penalty_scales_with_the_rates():
    """The same features at 10x the rates (another encoder threshold, another SNN) give the same readout
    output: the penalty is relative to the rates, where RLS's absolute prior is not."""
    rates, y = _signal()
    dec, X = _run(rates, y, ridge=0.05)
    S = np.r_[np.full(X.shape[1] - 1, 10.0), 1.0]  # the rates x 10, the bias as it is
    W10 = ridge_fit(S[:, None] * dec.G * S[None, :], S[:, None] * dec.B, 0.05, bias=True)
    np.testing.assert_allclose(X @ dec.W, (X * S) @ W10, rtol=1e-8, atol=1e-10)


def test_a_rate_silent_during_calibration_cannot_blow_up_the_output():
    """A feature that fired a handful of times during calibration (a hidden neuron that was still settling),
    then fires normally: with ridge its weight stays small, so the output stays in the target's range."""
    rates, y = _signal()
    rates = np.c_[rates, np.zeros(len(rates))]
    rates[::97, -1] = 400.0  # ten lone bursts
    plain, _ = _run(rates, y, reg=1e-6)
    ridged, _ = _run(rates, y, reg=1e-6, ridge=0.01)
    later = np.r_[rates[-1, :-1], 80.0, 1.0]  # the neuron now fires at 80 spikes/s
    assert abs(float(later @ ridged.W[:, 0])) < 2.0  # the target lies in [0, 1]
    assert abs(float(later @ plain.W[:, 0])) > abs(float(later @ ridged.W[:, 0]))


def test_the_refit_statistics_travel_with_the_state():
    rates, y = _signal(n_packets=300)
    dec, _ = _run(rates, y, ridge=0.01)
    st = dec.get_state()
    assert {"G", "B"} <= set(st)
    other = DECODERS.create("linear_rls", n_inputs=6, n_outputs=1, tau_ms=50.0, forgetting=1.0, ridge=0.01)
    other.set_state(st)
    np.testing.assert_array_equal(other.G, dec.G)
    np.testing.assert_array_equal(other.W, dec.W)
    plain = DECODERS.create("linear_rls", n_inputs=6, n_outputs=1, tau_ms=50.0)
    assert "G" not in plain.get_state()  # without ridge nothing more is kept (older checkpoints still load)
