"""docs/reference.md is generated from the declarations and must be fresh."""

from pathlib import Path

from spikestream.cli import node_kinds, reference_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_reference_doc_is_fresh():
    fresh = reference_text()
    assert DOC.read_text() == fresh, "docs/reference.md is stale: `spikestream kinds --reference > docs/reference.md`"


def test_reference_names_every_kind_its_ports_and_params():
    text = reference_text()
    kinds = node_kinds(shipped_only=True)
    assert {"emg_synth", "encoder", "snn", "control_output", "event_camera", "ramp_source"} <= set(kinds)
    for kind, cls in kinds.items():
        assert f"## `{kind}`" in text
        section = text.split(f"## `{kind}`")[1].split("\n## ")[0]
        for port in [*cls.inputs, *cls.outputs]:
            assert f"`{port}`" in section
        for p in cls.PARAMS.params:
            assert f"| `{p.name}` |" in section
    assert "| `rt_priority` | int | none |  | >= 1 and <= 99 |" in text
