"""An encoder's values are checked at load, in an encoder node and in an input node's `encoder` table: the
encoder is built once, as the node's set-up does, so a bad value fails before any node starts, naming the
file, the node and the table. Before, only the keys were checked at load: `threshold = -3` passed
`spikestream check` and stopped the input node when it started."""

from pathlib import Path

import pytest

from spikestream.runtime.pipeline import PipelineError, load

DEMO = (Path(__file__).resolve().parents[2] / "deploy" / "demo.toml").read_text()
ENCODER_NODE = """[nodes.enc]
kind = "encoder"
inputs = { in = "tcp://127.0.0.1:5998" }
outputs = { out = "tcp://127.0.0.1:auto" }
params = { %s }
"""


def _load(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text)
    return load(p, resolve_auto=False)  # what `spikestream check` runs


def refused(tmp_path, text) -> str:
    with pytest.raises(PipelineError) as e:
        _load(tmp_path, text)
    return str(e.value)


@pytest.mark.parametrize("table", ['kind = "delta", threshold = 0.5', 'kind = "rate", rate_hz = 1000',
                                   'kind = "delta", mode = "level", threshold = 2.0, amplitude = true'])
def test_good_tables_load(tmp_path, table):
    _load(tmp_path, ENCODER_NODE % table)


@pytest.mark.parametrize("table,text", [
    ('kind = "delta", threshold = -3', "params: delta: threshold must be finite and > 0, got -3"),
    ('kind = "delta", threshold = 0.5, mode = "bogus"', "mode"),
])
def test_encoder_node_values_fail_at_load(tmp_path, table, text):
    msg = refused(tmp_path, ENCODER_NODE % table)
    assert "node 'enc'" in msg and text in msg, msg


def test_input_node_encoder_table_fails_at_load(tmp_path):
    msg = refused(tmp_path, DEMO.replace("threshold = 0.25 }", "threshold = -3 }", 1))
    assert "node 'emg' params.encoder: delta: threshold must be finite and > 0, got -3" in msg, msg
