"""What a ``decoder = {kind = ...}`` table gives the output node before anything is built: its output count
and whether they are class labels (`Decoder.declared_outputs`, from the kind's `PARAMS`), and the output
node's keys that must agree with them, checked at load (`check_output_table`, the ``control_output``
table's check): ``names`` (one per output), ``vote`` (one discrete output) and the ``safety`` table, built
here as the node builds it (`safety.safety_params`: its output count, and with class labels the label range
[0, n_classes - 1], widened to a WTA's rest label)."""

from __future__ import annotations

from typing import Any

from spikestream.decode.calibration import CALIBRATION
from spikestream.params import Params, validate
from spikestream.registry import DECODERS
from spikestream.safety import safety_params

__all__ = ["decoder_outputs", "check_output_table"]


def decoder_outputs(table: dict[str, Any]) -> tuple[int, bool, dict[str, Any]] | None:
    """(outputs, class labels, the decoder's checked values) of a checked ``{kind = ...}`` decoder table;
    None for a kind that declares neither `PARAMS` nor `declared_outputs` (a plugin's: checked when built)."""
    factory = DECODERS.get(table["kind"])
    decl, outputs = getattr(factory, "PARAMS", None), getattr(factory, "declared_outputs", None)
    if not isinstance(decl, Params) or outputs is None:
        return None
    v = validate({k: x for k, x in table.items() if k != "kind"}, decl, "decoder")
    known = outputs(v)
    return None if known is None else (*known, v)


def check_output_table(v: dict[str, Any], table: dict[str, Any]) -> None:
    """The control_output keys that go together (`v` typed, `table` as given): the calibration keys
    (`CALIBRATION`), then names, vote and safety against the decoder's outputs."""
    CALIBRATION.check(v, table)
    known = decoder_outputs(v["decoder"])
    if known is None:
        return
    k, labels, dv = known
    if v["names"] and len(v["names"]) != k:
        raise ValueError(f"names: {len(v['names'])} names for {k} outputs")
    n_classes = int(dv.get("n_classes") or 0) if labels else 0
    sp = safety_params(v["safety"], k, n_classes, dv.get("rest_label", 0) if labels else 0, "safety")
    if v["vote"] > 1 and not (sp.discrete and k == 1):
        raise ValueError('vote needs one discrete output (a decoder with output = "label")')
