"""Node kinds' declared params at load, and `kind` as the one selector key beside today's spellings."""

import numpy as np
import pytest

from spikestream.nodes.encoder import EncoderNode
from spikestream.nodes.snn import SNNNode
from spikestream.protocol import Message, Samples, Spikes
from spikestream.runtime import pipeline
from spikestream.testing import NodeHarness

NET = {"dt_us": 1000, "seed": 0, "outputs": ["h"], "layers": [{"name": "h", "n": 6, "model": "lif"}],
       "connections": [{"pre": "input", "post": "h", "rule": "all_to_all", "weight": 2.0,
                        "plasticity": {"rule": "stdp_pair", "a_plus": 0.05, "a_minus": 0.04}}]}


def _encode(params):
    h = NodeHarness(EncoderNode, params, name="enc")
    t = np.arange(200, dtype=np.int64) * 1000
    data = np.sin(np.arange(200) / 7.0)[:, None].repeat(3, axis=1).astype(np.float32)
    h.node.on_message("in", Message(Samples(t, data, 1000.0), "x", 0, int(t[-1]), 1))
    return h.bodies("out")[0]


def test_encoder_kind_is_the_selector_and_encoder_still_works():
    a = _encode({"kind": "delta", "threshold": 0.1})
    b = _encode({"encoder": "delta", "threshold": 0.1})
    assert a.idx.size > 0 and np.array_equal(a.idx, b.idx) and np.array_equal(a.t_us, b.t_us)
    with pytest.raises(ValueError, match="name two encoders"):
        _encode({"kind": "delta", "encoder": "rate"})
    with pytest.raises(ValueError, match="unknown encoder 'delt'"):
        _encode({"kind": "delt"})


def _run_snn(params):
    h = NodeHarness(SNNNode, params, name="snn")
    n = h.node
    rng = np.random.default_rng(3)
    for k in range(50):
        idx = rng.integers(0, 4, 6).astype(np.uint32)
        t = np.sort(rng.integers(k * 1000, (k + 1) * 1000, 6)).astype(np.int64)
        n.on_message("in", Message(Spikes(k * 1000, (k + 1) * 1000, 4, idx, t), "x", k, (k + 1) * 1000, 1))
    return np.concatenate([b.idx for b in h.bodies("out")]), n.get_state()


def test_plasticity_kind_is_rule():
    with_kind = {**NET, "connections": [{**NET["connections"][0],
                                         "plasticity": {"kind": "stdp_pair", "a_plus": 0.05, "a_minus": 0.04}}]}
    a, sa = _run_snn(NET)
    b, sb = _run_snn(with_kind)
    assert np.array_equal(a, b) and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert np.any(sa["w"] != 2.0)  # the rule ran (weights moved from their initial 2.0)


def test_topology_as_one_kind_table():
    a, _ = _run_snn({"topology": "reservoir", "topology_params": {"n_exc": 20, "n_inh": 5}})
    b, _ = _run_snn({"topology": {"kind": "reservoir", "n_exc": 20, "n_inh": 5}})
    assert a.size > 0 and np.array_equal(a, b)
    with pytest.raises(ValueError, match="not both"):
        SNNNode("snn", {"topology": {"kind": "reservoir"}, "topology_params": {"n_exc": 20}}).setup()


def _file(tmp_path, src_params, out_params='decoder = { kind = "linear_rls", n_inputs = 16, n_outputs = 2 }'):
    p = tmp_path / "p.toml"
    p.write_text(f"""[nodes.emg]
kind = "emg_synth"
outputs = {{ spikes = "tcp://127.0.0.1:auto", target = "tcp://127.0.0.1:auto" }}
params = {{ {src_params} }}
[nodes.out]
kind = "control_output"
inputs = {{ in = "emg.spikes", target = "emg.target" }}
outputs = {{ out = "tcp://127.0.0.1:auto" }}
params = {{ {out_params} }}
""")
    return p


@pytest.mark.parametrize("src,out,text", [
    ('encoder = { kind = "delta", treshold = 1 }', None,
     "node 'emg' params.encoder: unknown parameter 'treshold'; did you mean 'threshold'?"),
    ('encoder = { kind = "delt" }', None, "params.encoder: kind unknown encoder 'delt'"),
    ('encoder = { kind = "delta", conditioning = [{ kind = "notchh" }] }', None,
     "node 'emg' params.encoder.conditioning[0]: kind: unknown conditioning stage 'notchh'; did you mean 'notch'?"),
    ("chunk = 0", None, "node 'emg' params: chunk must be >= 1, got 0"),
    ('pace = "slow"', None, "pace must be one of 'realtime', 'fast'"),
    ("", 'decoder = { kind = "linear_rl" }', "node 'out' params.decoder: kind: unknown decoder 'linear_rl'; did you mean 'linear_rls'?"),
    ("", 'decoder = { kind = "lda", n_inputs = 16, n_classes = 3 }, sinks = [{ kind = "mqt" }]', "node 'out' params.sinks[0]: kind: unknown sink 'mqt'"),
    ("", 'decoder = { kind = "lda", n_inputs = 16, n_classes = 3 }, calibrate = "target", calibrate_s = 3',
     'calibrate = "target" and calibrate_s exclude each other'),
    ("", 'decoder = { kind = "lda", n_inputs = 16, n_classes = 3 }, phase_channel = 2', 'phase_channel needs calibrate = "target"'),
    ("", 'decoder = { kind = "lda", n_inputs = 16, n_classes = 3 }, max_age_ms = 0', "max_age_ms must be > 0"),
    ("", 'safety = {}', "missing parameter 'decoder'"),
])
def test_node_params_are_checked_at_load(tmp_path, src, out, text):
    p = _file(tmp_path, src, *([out] if out else []))
    with pytest.raises(pipeline.PipelineError) as ei:
        pipeline.load(p, resolve_auto=False)
    assert str(ei.value).startswith(str(p)) and text in str(ei.value), str(ei.value)


def test_a_good_file_loads_and_keeps_the_params_as_written(tmp_path):
    p = _file(tmp_path, 'chunk = 1, encoder = { kind = "delta", threshold = 0.25 }',
              'decoder = { kind = "linear_rls", n_inputs = 16, n_outputs = 2 }, max_age_ms = inf')
    pl = pipeline.load(p, resolve_auto=False)
    assert pl.nodes["emg"].params == {"chunk": 1, "encoder": {"kind": "delta", "threshold": 0.25}}
    assert pl.nodes["out"].params["max_age_ms"] == float("inf")


@pytest.mark.parametrize("snn_params,text", [
    ('layers = [{ name = "h", n = 4, model = "lfi" }]', "unknown neuron model 'lfi'"),
    ('layers = [{ name = "h", n = 4 }], dt = 5', "node 'snn' params: unknown parameter 'dt'; did you mean 'dt_us'?"),
    ('topology = { kind = "reservoir", n_exc = 10, nope = 1 }', "topology 'reservoir': unknown parameter(s) ['nope']"),
    ('topology = "synfire", dt_us = 500', "with 'topology' give its parameters in 'topology_params'"),
    ('layers = [{ name = "h", n = 4 }], learning = { start = 1 }', "learning"),
])
def test_the_snn_description_is_checked_at_load(tmp_path, snn_params, text):
    p = tmp_path / "s.toml"
    p.write_text(f"""[nodes.src]
kind = "emg_synth"
outputs = {{ spikes = "tcp://127.0.0.1:auto" }}
params = {{ encoder = {{ kind = "delta" }} }}
[nodes.snn]
kind = "snn"
inputs = {{ in = "src.spikes" }}
outputs = {{ out = "tcp://127.0.0.1:auto" }}
params = {{ {snn_params} }}
""")
    with pytest.raises(pipeline.PipelineError) as ei:
        pipeline.load(p, resolve_auto=False)
    assert str(ei.value).startswith(f"{p}: node 'snn' params") and text in str(ei.value), str(ei.value)


def test_the_safety_table_keys_are_checked_at_load(tmp_path):
    p = _file(tmp_path, "", 'decoder = { kind = "lda", n_inputs = 16, n_classes = 3 }, safety = { lo = 0.0, max_rat = 2.0 }')
    with pytest.raises(pipeline.PipelineError, match=r"p.toml: node 'out' params\.safety: unknown parameter 'max_rat'; did you mean 'max_rate'"):
        pipeline.load(p, resolve_auto=False)
