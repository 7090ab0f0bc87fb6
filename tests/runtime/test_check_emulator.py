"""frames_to_events' `emulator` table is checked at load (names and ranges, by EmulatorParams' own checks),
before any node starts. Before, it was built only in the node's set-up."""

import pytest

from spikestream.runtime.pipeline import PipelineError, load

NODE = """[nodes.cam]
kind = "frames_to_events"
outputs = {{ out = "tcp://127.0.0.1:auto" }}
params = {{ path = "frames.npy", emulator = {{ {emu} }} }}
"""


def _load(tmp_path, emu):
    p = tmp_path / "p.toml"
    p.write_text(NODE.format(emu=emu))
    return load(p, resolve_auto=False)  # what `spikestream check` runs


def test_good_table_loads(tmp_path):
    _load(tmp_path, "pos_thres = 0.2, neg_thres = 0.2")


@pytest.mark.parametrize("emu,text", [
    ("pos_thres = -1", "params: emulator pos_thres must be a positive number, got -1"),
    ("pos_thresh = 0.2", "params: emulator unknown parameter(s) pos_thresh; known: pos_thres"),
])
def test_bad_table_fails_at_load(tmp_path, emu, text):
    with pytest.raises(PipelineError) as e:
        _load(tmp_path, emu)
    assert "node 'cam'" in str(e.value) and text in str(e.value), str(e.value)
