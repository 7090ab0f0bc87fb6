"""The SNN node's library pieces (issue 12): the learning schedule (`snn.schedule`), the topology selector
(`nodes._snn_params.template`), one step budget for both SNN stages (`snn.steps.check_steps`), and the
numbers the kernels read made once, when the description is parsed (`snn.spec` -> `snn.build`)."""

import math

import numpy as np
import pytest

from spikestream.nodes._snn_params import template
from spikestream.snn import build_snn
from spikestream.snn.conv import ConvLayer, ConvParams
from spikestream.snn.learning import LearningRule
from spikestream.snn.neuron import NeuronModel
from spikestream.snn.schedule import learning_at, learning_schedule
from spikestream.snn.spec import parse

NET = {"dt_us": 1000, "seed": 1,
       "layers": [{"name": "a", "n": 4, "model": "lif"}, {"name": "b", "n": 3, "model": "izhikevich"}],
       "connections": [{"pre": "input", "post": "a", "weight": 0.5, "plasticity": {"kind": "stdp_pair"}},
                       {"pre": "a", "post": "b", "weight": 0.5, "plasticity": {"rule": "stdp_triplet"}}]}


def test_learning_schedule_windows_in_stream_time():
    assert learning_schedule(True) == (True, None) and learning_schedule(False) == (False, None)
    on, w = learning_schedule({"from_s": 10})
    assert not on and w == (10_000_000, math.inf)
    on, w = learning_schedule({"until_s": 1.5})
    assert on and [learning_at(w, t) for t in (0, 1_499_999, 1_500_000)] == [True, True, False]
    for bad in ({"from_s": 2, "until_s": 1}, {"from_s": -1}, {"from": 1}, {}, {"until_s": float("nan")}, 3):
        with pytest.raises(ValueError, match="learning"):
            learning_schedule(bad)


def test_template_takes_a_name_or_one_selector_table():
    assert template("reservoir", {"n_exc": 3}) == ("reservoir", {"n_exc": 3})
    table = {"kind": "conv", "height": 4}
    assert template(table, {}) == ("conv", {"height": 4}) and table == {"kind": "conv", "height": 4}
    assert template(None, {}) == (None, {})
    with pytest.raises(ValueError, match="needs kind"):
        template({"height": 4}, {})


def test_both_stages_refuse_a_too_long_advance_alike_before_anything_changes():
    snn = build_snn(dict(NET), 2)
    conv = ConvLayer(ConvParams(in_channels=1, height=6, width=6, kernel=3))
    snn.start(0)
    conv.start(0)
    before = (snn.get_state(), conv.get_state())
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(ValueError) as a:
        snn.advance(*none, 9000, max_steps=8)
    with pytest.raises(ValueError) as b:
        conv.advance(*none, 9000, max_steps=8)
    assert str(a.value) == "advancing to t = 9000 us would simulate 9 steps (at most 8 per call)"
    assert str(b.value) == "conv: " + str(a.value)
    for old, new in zip(before, (snn.get_state(), conv.get_state())):
        assert all(np.array_equal(old[k], new[k]) for k in old)
    snn.advance(*none, 8000, max_steps=8)  # exactly the budget: simulated
    conv.advance(*none, 8000, max_steps=8)
    assert snn.time_us == conv.time_us == 8000


def test_models_and_rules_are_packed_once_per_network(monkeypatch):
    """parse() packed every layer and built every rule to check their values, and build() did it again."""
    packs, builds = [], []
    pack, build = NeuronModel.pack, LearningRule.build
    monkeypatch.setattr(NeuronModel, "pack", lambda self, *a: (packs.append(self.name), pack(self, *a))[1])
    monkeypatch.setattr(LearningRule, "build", lambda self, *a: (builds.append(self.name), build(self, *a))[1])
    snn = build_snn(dict(NET), 2)
    assert sorted(packs) == ["izhikevich", "lif"] and sorted(builds) == ["stdp_pair", "stdp_triplet"]
    spec = parse(dict(NET), 2)
    with pytest.raises(ValueError):
        spec.layers[0].pm[0] = 1.0  # what the spec made is read-only: the network copies it
    with pytest.raises(ValueError):
        spec.connections[0].plasticity_pp[0] = 1.0
    assert spec.connections[0].plasticity_code == snn.spec.connections[0].plasticity_code != 0
