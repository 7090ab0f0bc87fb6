"""Adding a neuron model is one file: named slots, codes from the registry, a generated dispatch.

The end-to-end case runs in a subprocess so that the toy model does not join this process's registry (the
kinds listings and reference pages other tests check)."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from snn_helpers import HERE, run_script

from spikestream.registry import NEURON_MODELS
from spikestream.snn import _dispatch, kernel, neuron
from spikestream.snn.model_lif import step_lif
from spikestream.snn.neuron import N_PM, NeuronModel, slots

SNN = Path(neuron.__file__).resolve().parent

SCRIPT = r"""
import json, numpy as np
from spikestream.registry import NEURON_MODELS
from spikestream.snn import build_snn
e = np.zeros(0, np.int64)
before = build_snn({"dt_us": 1000, "layers": [{"name": "a", "n": 1, "model": "lif", "i_bias": 20.0}]}, 1)
n_before = before.advance(e, e, 50_000)[0].size  # the step loop is compiled before the model exists
import toy_neuron_model  # the one file: declares and registers "toy_ramp"
p = {"dt_us": 1000, "seed": 0, "outputs": ["toy", "out"],
     "layers": [{"name": "toy", "n": 2, "model": "toy_ramp"},
                {"name": "out", "n": 1, "model": "lif", "t_ref_ms": 0.0}],
     "connections": [{"pre": "toy", "post": "out", "weight": 1000.0}]}
snn = build_snn(p, 1)
snn.set_bias("toy", [0.0, 0.25])
oi, ot = snn.advance(e, e, 12_000)
n_after = before.advance(e, e, 100_000)[0].size
try:
    build_snn({"dt_us": 1000, "layers": [{"name": "toy", "n": 1, "model": "toy_ramp", "v_th": -1.0}]}, 1)
    err = None
except ValueError as e:
    err = str(e)
print(json.dumps({"idx": oi.tolist(), "t": ot.tolist(), "code": NEURON_MODELS.get("toy_ramp").code,
                  "lif_code": NEURON_MODELS.get("lif").code, "err": err, "before": [n_before, n_after]}))
"""


@pytest.mark.slow  # a new set of models compiles the step loop once (~30 s cold; cached afterwards)
def test_a_model_from_one_file_runs_in_a_network():
    res = run_script(SCRIPT)
    spikes = sorted(zip(res["t"], res["idx"]))
    toy0 = [t for t, i in spikes if i == 0]
    toy1 = [t for t, i in spikes if i == 1]
    out = [t for t, i in spikes if i == 2]
    # v += 0.25 (+ bias 0.25) per 1 ms step, threshold 1, reset to 0: every 4th (2nd) step
    assert toy0 == [3000, 7000, 11000]
    assert toy1 == [1000, 3000, 5000, 7000, 9000, 11000]
    # the LIF layer gets the toy's first spike (step 1) at once and fires in the next step
    assert out and out[0] == 2000
    assert res["code"] not in range(1, 9) and res["lif_code"] == 1
    assert res["err"] == "layer 'toy': v_th must be > 0"
    # a network built before the model was declared runs on in the new loop, at the same rate
    n_before, n_after = res["before"]
    assert n_before > 0 and abs(n_after - n_before) <= 1


def test_slots_are_named_indices():
    P = slots("tau", "v_th")
    assert (P.tau, P.v_th) == (0, 1) and P._fields == ("tau", "v_th")
    for bad in (("a", "a"), ("a", "not a name")):
        with pytest.raises(ValueError):
            slots(*bad)


def test_pack_puts_every_slot_by_name():
    for name in NEURON_MODELS.names():
        m = NEURON_MODELS.get(name)
        pm = m.pack(dict(m.params), 1.0, 0.1)
        assert pm.shape == (N_PM,)
        if set(m.slots) <= set(m.params):  # every model but the LIF family (whose slots are derived)
            assert [pm[i] for i in range(len(m.slots))] == [m.params[k] for k in m.slots], name
    lif = NEURON_MODELS.get("lif")
    pm = lif.pack(dict(lif.params), 1.0, 1.0)
    assert pm[lif.slots.index("v_th")] == -50.0 and pm[lif.slots.index("leak")] == pytest.approx(np.exp(-1 / 20))


def test_a_declaration_is_checked():
    with pytest.raises(ValueError, match="not parameters"):
        NeuronModel("x", step_lif, ("v",), ("v_th", "gain"), {"v_th": 1.0}, lambda p: {"v": 0.0})
    m = NeuronModel("x", step_lif, ("v",), ("v_th", "gain"), {"v_th": 1.0}, lambda p: {"v": 0.0},
                    lambda p, dt, h: {"v_th": p["v_th"]})
    with pytest.raises(ValueError, match=r"no value for slots \['gain'\]"):
        m.pack({"v_th": 1.0}, 1.0, 1.0)
    with pytest.raises(ValueError, match="@njit"):
        NeuronModel("x", lambda *a: None, ("v",), ("v_th",), {"v_th": 1.0}, lambda p: {"v": 0.0})
    with pytest.raises(ValueError, match="slots"):
        NeuronModel("x", step_lif, ("v",), (1, 0), {"v_th": 1.0}, lambda p: {"v": 0.0})


def test_codes_come_from_the_steps():
    codes = {name: NEURON_MODELS.get(name).code for name in NEURON_MODELS.names()}
    # the hand-numbered codes of the built-in steps stay (a saved state's signature lists them)
    assert codes["lif"] == codes["if"] == codes["alif"] == 1
    assert (codes["adex"], codes["izhikevich"], codes["hh"], codes["fhn"], codes["morris_lecar"],
            codes["hindmarsh_rose"], codes["poisson"]) == (2, 3, 4, 5, 6, 7, 8)
    steps = {NEURON_MODELS.get(n).step: c for n, c in codes.items()}
    assert len(set(steps.values())) == len(steps)  # one code per step
    for step, c in steps.items():
        assert neuron.STEPS[c] is step


def test_the_dispatch_is_generated_from_the_declared_steps():
    src = _dispatch.source(kernel.step_loop, neuron.STEPS)
    for c, step in neuron.STEPS.items():
        assert f"code == {c}:\n        step_{c}(lo, hi," in src
        assert f"step_{c} = None  # {neuron.step_key(step)}" in src
    assert "def step_loop(" in src
    assert "elif code ==" not in Path(kernel.__file__).read_text()


def test_model_kernels_read_named_slots_only():
    """No model kernel reads a parameter slot or a state row by number (`pm[3]`, `S[0, i]`)."""
    for f in sorted(SNN.glob("model_*.py")) + [HERE / "toy_neuron_model.py"]:
        hits = re.findall(r"\b(?:pm|S)\[\s*\d", f.read_text())
        assert not hits, f"{f.name}: {hits}"


def test_the_generated_file_is_written_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_dispatch, "_dirs", lambda: [tmp_path / "ro", tmp_path / "rw"])
    (tmp_path / "ro").write_text("a file where a directory should be: not writable")
    p = _dispatch._write("x = 1\n", "_loop_aaaa_1.py")
    assert p == tmp_path / "rw" / "_loop_aaaa_1.py"
    m0 = p.stat().st_mtime_ns
    os.utime(p, ns=(m0 - 10**9, m0 - 10**9))
    assert _dispatch._write("x = 1\n", "_loop_aaaa_1.py") == p
    assert p.stat().st_mtime_ns == m0 - 10**9  # not rewritten: Numba's cache of it stays valid
    (tmp_path / "rw" / "__pycache__").mkdir()
    stale = tmp_path / "rw" / "__pycache__" / "_loop_aaaa_1.step_loop-3.py311.nbi"
    stale.write_text("")
    _dispatch._write("x = 2\n", "_loop_bbbb_2.py")  # new sources: the old file and its cache go
    assert not p.exists() and not stale.exists()
    assert (tmp_path / "rw" / "_loop_bbbb_2.py").read_text() == "x = 2\n"


@njit
def _plus1(x):
    return x + 1.0


def test_a_generated_module_loads_from_its_file_or_from_memory(tmp_path, monkeypatch):
    text = "from numba import njit\n\n\n@njit(cache=True)\ndef f(x):\n    return x + step_7(x)\n"
    monkeypatch.setattr(_dispatch, "_fingerprint", lambda: "f" * 64)
    for dirs in ([tmp_path], []):  # [] = nowhere writable: compiled from memory
        monkeypatch.setattr(_dispatch, "_dirs", lambda d=dirs: d)
        mod = _dispatch._load(text, {7: _plus1})
        assert mod.f(2.0) == 5.0
    files = list(tmp_path.glob("_loop_ffffffffffff_*.py"))
    assert len(files) == 1 and files[0].read_text().endswith(text)
    assert list((tmp_path / "__pycache__").glob(files[0].stem + ".f-*.nbi"))  # Numba cached it beside it
