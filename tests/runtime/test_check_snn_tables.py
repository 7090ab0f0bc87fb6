"""An SNN node's network description is checked at load, values included: a neuron model's own checks (as
the build packs its parameters) and a plasticity rule's (as the build makes its parameter vector) fail
before any node starts, naming the file, the node, the layer or connection and the key. Before, only the
description's keys and plain numbers were checked at load: `tau_m_ms = -5` or an unknown rule parameter
surfaced inside the SNN node's process, after the other nodes had started."""

from pathlib import Path

import pytest

from spikestream.runtime.pipeline import PipelineError, load

DEMO = (Path(__file__).resolve().parents[2] / "deploy" / "demo.toml").read_text()


def refused(tmp_path, old: str, new: str) -> str:
    assert old in DEMO
    p = tmp_path / "p.toml"
    p.write_text(DEMO.replace(old, new, 1))
    with pytest.raises(PipelineError) as e:
        load(p, resolve_auto=False)  # what `spikestream check` runs
    return str(e.value)


def test_the_demo_loads(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(DEMO)
    load(p, resolve_auto=False)


@pytest.mark.parametrize("old,new,text", [
    ('model = "lif"', 'model = "lif"\ntau_m_ms = -5', "layer 'hidden': tau_m_ms must be > 0"),
    ('model = "lif"', 'model = "alif"\ntau_w_ms = 0', "layer 'hidden': tau_w_ms must be > 0"),
    ("w_max = 2.0 }", "w_max = 2.0, bogus = 2 }",
     "connection 'input->hidden': plasticity: plasticity rule 'stdp_bcm': unknown parameter(s) ['bogus']"),
    ('rule = "stdp_bcm", ', 'rule = "stdp_bcm", tau_plus_ms = -20, ',
     "plasticity: tau_plus_ms must be a positive number of ms"),
    ('rule = "stdp_bcm", ', 'rule = "stdp_bcm", bound = "soft", ', "plasticity: stdp_triplet: only hard bounds"),
    ('rule = "stdp_bcm", ', 'rule = "stdp_bcm", rate_hz = -1, ', "stdp_bcm: rate_hz must be a positive number"),
    ('rule = "stdp_bcm"', 'rule = "stdp_quad"', "connection 'input->hidden': plasticity: unknown learning rule"),
])
def test_bad_values_fail_at_load_with_where(tmp_path, old, new, text):
    msg = refused(tmp_path, old, new)
    assert "node 'snn'" in msg and text in msg, msg
