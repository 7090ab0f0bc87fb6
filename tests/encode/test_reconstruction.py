"""Decoders recover the signal from the spikes (reconstruction SNR in dB, as in Petro et al. 2020)."""

import numpy as np
import pytest

from spikestream.encode.bsa import BSAEncoder, decode_bsa
from spikestream.encode.contrast import StepForwardEncoder, decode_step_forward
from spikestream.encode.delta import DeltaEncoder, SigmaDeltaEncoder, decode_delta, decode_sigma_delta
from spikestream.encode.population import PopulationEncoder, decode_population

FS = 1000.0


def snr_db(x, y):
    return 10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2))


def _sine(n=4000):
    k = np.arange(n)
    return np.round(k * 1e6 / FS).astype(np.int64), (0.5 + 0.4 * np.sin(2 * np.pi * 2 * k / FS)).astype(np.float32)[:, None]


@pytest.mark.parametrize("thr,min_snr", [(0.05, 18), (0.01, 32)])
def test_delta_level_and_step_forward(thr, min_snr):
    t, x = _sine()
    i, tt = DeltaEncoder(1, threshold=thr, mode="level", max_per_sample=100).encode(x, t)
    assert snr_db(x, decode_delta(i, tt, t, 1, thr, x0=x[0])) > min_snr
    i, tt = StepForwardEncoder(1, threshold=thr).encode(x, t)
    assert snr_db(x, decode_step_forward(i, tt, t, 1, thr, x0=x[0])) > min_snr


def test_finer_threshold_reconstructs_better():
    t, x = _sine()
    snrs = []
    for thr in (0.1, 0.03, 0.01):
        i, tt = StepForwardEncoder(1, threshold=thr).encode(x, t)
        snrs.append(snr_db(x, decode_step_forward(i, tt, t, 1, thr, x0=x[0])))
    assert snrs[0] < snrs[1] < snrs[2]


def test_bsa_sigma_delta_population():
    t, x = _sine()
    e = BSAEncoder(1, filter_len=16, filter_amp=0.1)
    i, tt = e.encode(x, t)
    r = decode_bsa(i, tt, t, 1, e.h, e.delay)
    assert snr_db(x[50:-50], r[50:-50]) > 8
    i, tt = SigmaDeltaEncoder(1, threshold=1.0, gain=0.5).encode(x, t)
    r = decode_sigma_delta(i, tt, t, 1, 1.0, 0.5, window=40)
    assert snr_db(x[100:], r[100:]) > 15
    e = PopulationEncoder(1, rate_hz=FS, n_neurons=10, max_rate_hz=500)
    i, tt = e.encode(x, t)
    r = decode_population(i, tt, t, 1, e.mu, window=40)
    assert snr_db(x[100:], r[100:]) > 15
