"""The nested tables of a pipeline file (a decoder, a conditioning chain, the safety stage) are checked at
load, before any node starts, with the file, the table, the key and a "did you mean" (issue 12 item 2).
Before: only their `kind` was checked at load; a bad value surfaced when the node built the stage, inside a
node process, after the other nodes had started."""

import subprocess
import sys

import pytest

from spikestream.params import REQUIRED
from spikestream.runtime.pipeline import PipelineError, load

PY = sys.executable

OUT = """[nodes.out]
kind = "control_output"
inputs = {{ in = "tcp://127.0.0.1:5999" }}
outputs = {{ out = "tcp://127.0.0.1:auto" }}
[nodes.out.params]
decoder = {{ {decoder} }}
safety = {{ {safety} }}
"""
ENC = """[nodes.enc]
kind = "encoder"
inputs = {{ in = "tcp://127.0.0.1:5998" }}
outputs = {{ out = "tcp://127.0.0.1:auto" }}
params = {{ rate_hz = 1000, conditioning = [{conditioning}] }}
"""
SYNTH = """[nodes.emg]
kind = "emg_synth"
outputs = {{ samples = "tcp://127.0.0.1:auto", spikes = "tcp://127.0.0.1:auto" }}
params = {{ encoder = {{ kind = "delta", conditioning = [{conditioning}] }} }}
"""
RLS = 'kind = "linear_rls", n_inputs = 4, n_outputs = 2'


def write(tmp_path, decoder=RLS, safety="timeout_s = 0.2", conditioning='{kind = "bandpass"}', synth=None):
    p = tmp_path / "p.toml"
    text = OUT.format(decoder=decoder, safety=safety) + ENC.format(conditioning=conditioning)
    if synth is not None:
        text += SYNTH.format(conditioning=synth)
    p.write_text(text)
    return p


def refused(p) -> str:
    with pytest.raises(PipelineError) as e:
        load(p, resolve_auto=False)  # what `spikestream check` runs
    return str(e.value)


def test_the_good_file_loads(tmp_path):
    load(write(tmp_path), resolve_auto=False)
    load(write(tmp_path, synth='{kind = "notch", freq_hz = 60}'), resolve_auto=False)


DECODER = [  # (the decoder table, what the error says)
    (RLS + ', forgetting = "high"', "params.decoder: forgetting must be a number, got str 'high'"),
    (RLS + ", forgetting = 1.5", "params.decoder: forgetting must be > 0 and <= 1, got 1.5"),
    (RLS + ", tau_mss = 10", "params.decoder: unknown parameter 'tau_mss'; did you mean 'tau_ms'?"),
    ('kind = "linear_rls", n_outputs = 2', "params.decoder: missing parameter 'n_inputs'"),
    ('kind = "linear_lms", n_inputs = 4, n_outputs = 2, mu = 2.0', "params.decoder: mu must be > 0 and < 2, got 2.0"),
    ('kind = "lda", n_inputs = 4, n_classes = 3, shrink = 2', "params.decoder: shrink must be >= 0 and <= 1, got 2"),
    ('kind = "lda", n_inputs = 4, n_classes = 1', "params.decoder: n_classes must be >= 2, got 1"),
    ('kind = "wta", n_inputs = 4, n_classes = 3, window = "boxy"', "params.decoder: window must be one of 'exp', 'box'"),
    ('kind = "kalman", n_inputs = 4, n_outputs = 2, q_floor = 0', "params.decoder: q_floor must be > 0, got 0"),
    ('kind = "counts", n_inputs = 4, windw_ms = 50', "params.decoder: unknown parameter 'windw_ms'; did you mean 'window_ms'?"),
    ('kind = "population_vector", n_inputs = 4, n_outputs = 2, min_depth = -1',
     "params.decoder: min_depth must be > 0, got -1"),
    ('kind = "rate", n_inputs = 4, unit = "Hz"', "params.decoder: unit must be one of 'hz', 'count'"),
]
CONDITIONING = [
    ('{kind = "bandpass", order = 13}', "params.conditioning[0]: order must be >= 1 and <= 12, got 13"),
    ('{kind = "bandpass"}, {kind = "notch", freq = 50}',
     "params.conditioning[1]: unknown parameter 'freq'; did you mean 'freq_hz'?"),
    ('{kind = "lowpass", cutoff_hz = "10"}', "params.conditioning[0]: cutoff_hz must be a number, got str '10'"),
    ('{kind = "envelope", mode = "peak"}', "params.conditioning[0]: mode must be one of 'abs', 'rms'"),
    ('{kind = "normalize", tau_s = 0}', "params.conditioning[0]: tau_s must be > 0, got 0"),
    ('{kind = "bandpass", low_hz = 300, high_hz = 100}', "params.conditioning[0]: low_hz 300"),
    ('{kind = "rectify", gain = 2}', "params.conditioning[0]: unknown parameter 'gain'"),
    ('{kind = "bandpas"}', "params.conditioning[0]: kind: unknown conditioning stage 'bandpas'; did you mean 'bandpass'?"),
]
SAFETY = [
    ('timeout_s = "1"', "params.safety: timeout_s must be a number, got str '1'"),
    ("deadband = -1", "params.safety: deadband must be >= 0, got -1"),
    ("max_rat = 1.0", "params.safety: unknown parameter 'max_rat'; did you mean 'max_rate'?"),
    ('safe_mode = "gentle"', "params.safety: safe_mode must be one of 'immediate', 'slew'"),
    ("lo = 1.0, hi = 0.0", "params.safety: lo 1.0 must be below hi 0.0"),
    ("discrete = 1", "params.safety: discrete must be true or false, got int 1"),
    ("lo = [0.0, 1.0], hi = [1.0, 2.0, 3.0]", "params.safety: lo: one value or a list of 3 (one per output), got [0.0, 1.0]"),
]


@pytest.mark.parametrize("table,node,value,text", [
    pytest.param(table, node, value, text, id=f"{table}-{i}")
    for table, node, cases in (("decoder", "out", DECODER), ("conditioning", "enc", CONDITIONING),
                               ("safety", "out", SAFETY))
    for i, (value, text) in enumerate(cases)])
def test_a_bad_nested_value_is_refused_at_load_with_the_file_and_node(tmp_path, table, node, value, text):
    p = write(tmp_path, **{table: value})
    msg = refused(p)
    assert str(p) in msg and f"node '{node}'" in msg and text in msg, msg


def test_an_input_nodes_inline_conditioning_is_located_too(tmp_path):
    msg = refused(write(tmp_path, synth='{kind = "notch", q = -3}'))
    assert "node 'emg' params.encoder.conditioning[0]: q must be > 0, got -3" in msg, msg


@pytest.mark.parametrize("kw,text", [
    (dict(decoder=RLS + ", forgetting = 1.5"), "node 'out' params.decoder: forgetting must be > 0 and <= 1, got 1.5"),
    (dict(conditioning='{kind = "notch", freq = 50}'),
     "node 'enc' params.conditioning[0]: unknown parameter 'freq'; did you mean 'freq_hz'?"),
])
def test_spikestream_check_reports_a_nested_table_in_one_line(tmp_path, kw, text):
    p = write(tmp_path, **kw)
    r = subprocess.run([PY, "-m", "spikestream", "check", str(p)], capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 78 and len(lines) == 1 and str(p) in lines[0] and text in lines[0], r.stderr


CAMERA = """[nodes.cam]
kind = "event_camera"
outputs = {{ out = "tcp://127.0.0.1:auto" }}
params = {{ path = "rec.aedat4", filters = [{filters}] }}
"""


@pytest.mark.parametrize("sinks,text", [
    ('{ kind = "mqtt", topik = "a/b" }', "params.sinks[0]: unknown parameter 'topik'; did you mean 'topic'?"),
    ('{ kind = "mqtt", port = "1883" }', "params.sinks[0]: port must be an integer, got str '1883'"),
    ('{ kind = "csv", path = "c.csv" }, { kind = "zmq_pub" }', "params.sinks[1]: missing parameter 'endpoint'"),
    ('{ kind = "csv", path = "c.csv", append = "yes" }', "params.sinks[0]: append must be true or false"),
])
def test_a_sinks_keys_and_types_are_checked_at_load_from_its_constructor(tmp_path, sinks, text):
    """Sinks declare no PARAMS yet: their constructors' keywords (names, int/float/bool/str annotations,
    defaults) are the declaration the loader reads."""
    p = tmp_path / "p.toml"
    p.write_text(OUT.format(decoder=RLS, safety="") + f"sinks = [{sinks}]\n")
    msg = refused(p)
    assert "node 'out'" in msg and text in msg, msg


@pytest.mark.parametrize("filters,text", [
    ('{ kind = "refractory", period_us = -1 }',
     "params.filters[0]: event filter 'refractory': period_us must be an integer >= 0, got -1"),
    ('{ kind = "hot_pixel" }, { kind = "refractory", period = 10 }',
     "params.filters[1]: event filter 'refractory': unknown parameter 'period'; did you mean 'period_us'?"),
    ('{ kind = "polarity", keep = "both" }', "params.filters[0]: event filter 'polarity': keep must be 'on' or 'off'"),
])
def test_an_event_filters_values_are_checked_at_load_by_its_params_class(tmp_path, filters, text):
    p = tmp_path / "p.toml"
    p.write_text(CAMERA.format(filters=filters))
    msg = refused(p)
    assert "node 'cam'" in msg and text in msg, msg


def _required(decl):
    return {p.name: {"n_inputs": 4, "n_outputs": 2, "n_classes": 3}[p.name] for p in decl.params
            if p.default is REQUIRED}


def test_a_decoder_is_built_from_the_declaration_the_loader_checks():
    """One source of truth: each decoder's parameter record takes every default from its kind's PARAMS, and
    the library build refuses a bad value with the same words as the loader."""
    from spikestream.registry import DECODERS

    for kind in DECODERS.names():
        decl = DECODERS.get(kind).PARAMS
        dec = DECODERS.create(kind, **_required(decl))
        for p in decl.params:
            if p.default is not REQUIRED:
                want = tuple(p.default) if isinstance(p.default, list) else p.default
                assert getattr(dec.params, p.name) == want, (kind, p.name)
    with pytest.raises(ValueError, match=r"RLSParams: forgetting must be > 0 and <= 1, got 1.5"):
        DECODERS.create("linear_rls", n_inputs=4, n_outputs=2, forgetting=1.5)


def test_a_conditioning_stage_reads_the_declaration_the_loader_checks():
    from spikestream.registry import CONDITIONERS

    for kind in CONDITIONERS.names():
        st = CONDITIONERS.create(kind, n_channels=2, rate_hz=1000.0)  # every default from PARAMS
        assert st.declared({}) == {p.name: p.default for p in type(st).PARAMS.params}
    with pytest.raises(ValueError, match=r"bandpass: order must be >= 1 and <= 12, got 13"):
        CONDITIONERS.create("bandpass", n_channels=2, rate_hz=1000.0, order=13)


LDA = 'kind = "lda", n_inputs = 4, n_classes = 3'


@pytest.mark.parametrize("decoder,safety,extra,text", [
    (LDA, "", 'names = ["a", "b"]', "params: names: 2 names for 1 outputs"),
    (RLS, "", "vote = 3", 'params: vote needs one discrete output (a decoder with output = "label")'),
    (RLS, "n_outputs = 3", "", "params: safety.n_outputs 3 != decoder outputs 2"),
    (LDA, "safe_value = 7", "", "params: safety: safe_value 7.0 lies outside [lo, hi]"),
    (LDA, "max_rate = 2.0", "", "params: safety: discrete: class labels take no max_rate, max_accel or deadband"),
])
def test_the_output_nodes_keys_are_checked_against_the_decoders_outputs_at_load(tmp_path, decoder, safety, extra, text):
    """Before: names, vote and the safety table were matched to the decoder's outputs (their count, class
    labels) only when the node built the decoder."""
    p = tmp_path / "p.toml"
    p.write_text(OUT.format(decoder=decoder, safety=safety) + extra + "\n")
    msg = refused(p)
    assert "node 'out'" in msg and text in msg, msg


def test_a_good_label_pipeline_still_loads(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(OUT.format(decoder=LDA, safety="safe_value = 2") + 'names = ["gesture"]\nvote = 5\n')
    load(p, resolve_auto=False)


def _doc_pipelines():
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = []
    for md in sorted((root / "docs").glob("*.md")) + [root / "README.md"]:
        for i, block in enumerate(re.findall(r"```toml[^\n]*\n(.*?)```", md.read_text(), re.S)):
            if "[nodes." not in block:
                continue  # a snippet of one table
            doc = tomllib.loads(block)
            nodes = doc.get("nodes", {})
            if nodes and all("kind" in n for n in nodes.values()):  # a whole pipeline, not a fragment
                doc.get("pipeline", {}).pop("curve_keys", None)  # its key folder is the reader's
                out.append(pytest.param(doc, id=f"{md.name}[{i}]"))
    return out


@pytest.mark.parametrize("doc", _doc_pipelines())
def test_every_pipeline_in_the_docs_passes_the_check(doc):
    from spikestream.runtime.pipeline import from_dict

    assert from_dict(doc, "doc.toml", resolve_auto=False).nodes


def test_a_plugin_kind_without_params_is_checked_by_its_constructor_without_false_refusals():
    """A plugin conditioning stage or decoder that declares no PARAMS: its keywords are read off its
    constructor; what the host passes (n_channels, rate_hz) is neither required nor refused, a keyword-only
    argument without a default is required, and a misspelled key is still named."""
    from spikestream.condition._base import Conditioner
    from spikestream.params import NestedParamError, check_kind_table
    from spikestream.registry import Registry

    reg = Registry("conditioning stage")

    @reg.register("gain")
    class Gain(Conditioner):
        def __init__(self, n_channels, rate_hz, gain: float = 1.0, *, label: str):
            super().__init__(n_channels, rate_hz)

    check_kind_table(reg, "gain", {"gain": 2.0, "label": "x"}, "[0]")
    for table, text in [({"label": "x", "gian": 2.0}, "[0]: unknown parameter 'gian'; did you mean 'gain'?"),
                        ({"label": "x", "gain": "2"}, "[0]: gain must be a number, got str '2'"),
                        ({}, "[0]: missing parameter 'label'")]:
        with pytest.raises(NestedParamError) as e:
            check_kind_table(reg, "gain", table, "[0]")
        assert str(e.value).startswith(text), str(e.value)
