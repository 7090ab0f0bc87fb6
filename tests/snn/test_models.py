"""Neuron models: each kernel against its plain-numpy reference; named firing patterns; stability."""

import numpy as np
import pytest
from snn_reference import crossing_model_step, reset_model_step

from spikestream.registry import NEURON_MODELS
from spikestream.snn import build_snn
from spikestream.snn._rng import seed_state
from spikestream.snn.neuron import C_DEXC, C_DINH, C_EEXC, C_EINH, C_H, C_NSUB, C_REF, N_COMMON, substeps

# random initial states around each model's operating range, and input scales
RANGES = {
    "adex": ([(-75, -38), (0, 200)], 500.0, 5.0),
    "izhikevich": ([(-75, 35), (-16, 0)], 10.0, 0.5),
    "hh": ([(-80, 40), (0, 1), (0, 1), (0, 1)], 10.0, 0.5),
    "fhn": ([(-2.2, 2.2), (-0.7, 1.5)], 0.6, 0.05),
    "morris_lecar": ([(-60, 40), (0, 0.5)], 100.0, 0.5),
    "hindmarsh_rose": ([(-1.8, 2.0), (-12, 1), (-0.5, 3.5)], 3.0, 0.2),
}


@pytest.mark.parametrize("name", sorted(RANGES))
def test_kernel_matches_reference(name):
    model = NEURON_MODELS.get(name)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    n = 300
    ranges, i_scale, g_scale = RANGES[name]
    X = np.zeros((4, n))
    for r, (lo, hi) in enumerate(ranges):
        X[r] = rng.uniform(lo, hi, n)
    syn = np.abs(rng.normal(0, 1, (4, n))) * np.array([i_scale / 5, i_scale / 5, g_scale / 5, g_scale / 5])[:, None]
    ibias = rng.normal(0, i_scale, n)
    theta = np.zeros(n)
    flag = rng.integers(0, 2, n).astype(np.int8)
    refr = rng.integers(0, 3, n).astype(np.int32)
    p = dict(model.params)
    dt = 1.0
    nsub, h = substeps(dt, model.substep_ms)
    pm = model.pack(p, dt, h)
    pc = np.zeros(N_COMMON)
    pc[C_DEXC], pc[C_DINH] = np.exp(-h / 5.0), np.exp(-h / 10.0)
    pc[C_EEXC], pc[C_EINH], pc[C_NSUB], pc[C_H], pc[C_REF] = model.e_exc, model.e_inh, nsub, h, 2
    nv = len(model.variables)
    kw = dict(e_exc=model.e_exc, e_inh=model.e_inh)
    if model.spiking == "reset":
        Xe, syn_e, refr_e, spk_e = reset_model_step(name, X[:nv], syn, refr, theta, ibias, p, ref_steps=2,
                                                    h=h, nsub=nsub, **kw)
    else:
        Xe, syn_e, flag_e, spk_e = crossing_model_step(name, X[:nv], syn, flag, theta, ibias, p, h=h,
                                                       nsub=nsub, **kw)
    spk = np.zeros(n, np.int8)
    model.step(0, n, X, syn, refr, flag, theta, ibias, pm, pc, seed_state(0), spk, np.zeros(n))
    assert spk.sum() > 3, "the case should exercise spikes"
    np.testing.assert_array_equal(spk.astype(bool), spk_e)
    np.testing.assert_allclose(X[:nv], Xe, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(syn, syn_e, rtol=1e-12)
    if model.spiking == "reset":
        np.testing.assert_array_equal(refr, refr_e)
    else:
        np.testing.assert_array_equal(flag, flag_e)


def _dc(model, i_bias, T_ms, dt_us=1000, preset=None, steps=None, **kw):
    """Spike times (ms) of one neuron under DC input; `steps`: [(t_ms, i_bias), ...] changes."""
    layer = {"name": "n", "n": 1, "model": model, "i_bias": i_bias, **kw}
    if preset:
        layer["preset"] = preset
    snn = build_snn({"dt_us": dt_us, "layers": [layer]}, 1)
    snn.start(0)
    none = np.zeros(0, np.int64)
    times = []
    t0 = 0
    for t_ms, b in (steps or []) + [(T_ms, None)]:
        _, t = snn.advance(none, none, t_ms * 1000)
        times.append(t)
        if b is not None:
            snn.set_bias("n", b)
        t0 = t_ms
    return np.concatenate(times) / 1000.0


def test_izhikevich_named_patterns():
    isi = {p: np.diff(_dc("izhikevich", 10.0, 1000, preset=p)) for p in ("RS", "IB", "CH", "FS", "LTS")}
    # RS: regular spiking with spike-frequency adaptation
    assert isi["RS"][-1] / isi["RS"][0] > 1.5 and np.std(isi["RS"][-5:]) < 2
    # IB: an initial burst (short ISIs) then tonic spiking with much longer ISIs
    assert isi["IB"][0] < 5 and isi["IB"][1] < 8 and np.median(isi["IB"][3:]) > 20
    # CH: repetitive bursts: short intra-burst and long inter-burst intervals, several cycles
    short, long_ = np.sum(isi["CH"] < 6), np.sum(isi["CH"] > 30)
    assert short > 3 * long_ and long_ >= 10
    # FS: high rate, little adaptation
    assert len(isi["FS"]) + 1 > 2 * (len(isi["RS"]) + 1) and isi["FS"][-1] / isi["FS"][0] < 2.5
    assert np.std(isi["FS"][-10:]) < 1.5
    # LTS: high-frequency onset that adapts strongly, then tonic
    assert isi["LTS"][0] < 5 and isi["LTS"][-1] / isi["LTS"][0] > 3
    # TC: silent at rest; after hyperpolarisation is released, a rebound burst (Izhikevich 2004 Fig. 1)
    tc = _dc("izhikevich", 0.0, 400, preset="TC", steps=[(100, -10.0), (250, 0.0)])
    assert np.all(tc >= 250) and len(tc) >= 3 and np.all(np.diff(tc)[:2] < 15) and tc.max() < 350


def test_hh_gain_function():
    rate = lambda i: len(_dc("hh", i, 1000))  # noqa: E731
    assert rate(2.0) == 0
    assert 60 <= rate(10.0) <= 75        # ~68 Hz at 10 uA/cm2 (Hodgkin-Huxley squid axon at 6.3 C)
    assert rate(20.0) > rate(10.0)


def test_adex_adaptation_and_rest():
    t = _dc("adex", 1000.0, 1000)
    assert len(_dc("adex", 0.0, 500)) == 0
    isi = np.diff(t)
    assert len(t) > 10 and isi[-1] / isi[0] > 2.0


def test_planar_models_oscillate_above_threshold_only():
    assert len(_dc("fhn", 0.0, 500)) == 0 and len(_dc("fhn", 0.5, 1000)) > 15
    assert len(_dc("morris_lecar", 60.0, 1000)) == 0 and len(_dc("morris_lecar", 100.0, 1000)) > 8


def test_hindmarsh_rose_bursts():
    t = _dc("hindmarsh_rose", 2.0, 5000)
    isi = np.diff(t[t > 2000])  # after the transient: regular doublets (bursts of two spikes)
    short, long_ = isi[isi < 40], isi[isi >= 40]
    assert len(short) >= 10 and len(long_) >= 10 and short.max() < 0.3 * long_.min()
    assert len(_dc("hindmarsh_rose", 0.0, 1000)) == 0


@pytest.mark.parametrize("name", sorted(RANGES) + ["lif", "alif", "if"])
def test_stable_at_network_dt_with_random_input(name):
    params = {"dt_us": 1000, "seed": 3,
              "layers": [{"name": "n", "n": 20, "model": name}],
              "connections": [{"name": "g", "pre": "input", "post": "n", "rule": "fixed_prob", "p": 0.5,
                               "weight": {"init": "uniform", "low": 0, "high": RANGES.get(name, ([], 5.0, 0.5))[2]},
                               "synapse": "conductance"},
                              {"name": "i", "pre": "input", "post": "n", "rule": "fixed_prob", "p": 0.5,
                               "weight": {"init": "uniform", "low": 0, "high": RANGES.get(name, ([], 5.0, 0.5))[1]}}]}
    snn = build_snn(params, 50)
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 2_000_000, 50_000))
    snn.advance(rng.integers(0, 50, t.size), t, 2_000_000)
    assert np.all(np.isfinite(snn.get_state()["S"]))
