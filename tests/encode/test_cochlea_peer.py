"""The cochlea front end against an independent implementation: the `gammatone` package (Slaney's
Auditory Toolbox ported by J. Heeris), a test-only dependency."""

import numpy as np
import pytest

gt_filters = pytest.importorskip("gammatone.filters")

from spikestream.encode.cochlea import CochleaEncoder, erb_space  # noqa: E402

FS = 16000.0


def test_erb_spacing_matches_slaney():
    # Slaney's ERBSpace gives N points from just below `high` down to `low`; ours spans both ends
    theirs = gt_filters.erb_space(100, 7000, 12)
    # same scale; the constants differ in the 7th digit (1000/4.37 vs Slaney's EarQ * minBW = 9.26449 * 24.7)
    np.testing.assert_allclose(erb_space(100, 7000, 13)[:-1][::-1], theirs, rtol=1e-6)


@pytest.mark.parametrize("f0", [250.0, 700.0, 1800.0, 4000.0])
@pytest.mark.parametrize("filters", ["gammatone", "butter"])
def test_tone_excites_the_same_band_as_slaney_filterbank(f0, filters):
    n = 8000
    x = (0.3 * np.sin(2 * np.pi * f0 * np.arange(n) / FS)).astype(np.float32)
    enc = CochleaEncoder(1, rate_hz=FS, n_bands=24, f_lo=100, f_hi=7000, filters=filters)
    idx, _ = enc.encode(x[:, None], np.round(np.arange(n) * 1e6 / FS).astype(np.int64))
    ours = np.bincount(idx, minlength=24)
    coefs = gt_filters.make_erb_filters(FS, enc.centres)
    y = gt_filters.erb_filterbank(x.astype(np.float64), coefs)  # [bands, n]
    theirs = np.sqrt(np.mean(y[:, n // 2:] ** 2, axis=1))
    assert abs(int(np.argmax(ours)) - int(np.argmax(theirs))) <= 1
    # spike counts follow the peer's band amplitudes after the same compression (count ~ amplitude^0.3)
    assert np.corrcoef(ours, theirs ** enc.exponent)[0, 1] > 0.9
