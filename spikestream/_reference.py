"""docs/reference.md and `spikestream kinds --params`, printed from the declarations of `spikestream.params`
(every node kind's `PARAMS`, the runtime keys, and the nested tables whose kinds declare theirs).
Re-exported by `spikestream.params`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spikestream.params import Params


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def params_table(decl: Params) -> list[str]:
    """A markdown table of `decl` (one row per key)."""
    rows = ["| key | type | default | unit | range | meaning |", "|---|---|---|---|---|---|"]
    for p in decl.params:
        rows.append(f"| `{p.name}` | {_cell(p.type_text())} | {_cell(p.default_text())} | {p.unit} | "
                    f"{_cell(p.range_text())} | {_cell(p.doc)} |")
    if decl.rest:
        rows.append(f"| *other keys* | | | | | {_cell(decl.rest)} |")
    return rows


def params_text(decl: Params, indent: str = "  ") -> list[str]:
    """One plain line per key (for a terminal)."""
    lines = []
    for p in decl.params:
        extra = ", ".join(x for x in (p.unit, p.range_text()) if x)
        lines.append(f"{indent}{p.name}: {p.type_text()} = {p.default_text()}" + (f" ({extra})" if extra else "")
                     + (f"  {p.doc}" if p.doc else ""))
    if decl.rest:
        lines.append(f"{indent}(other keys: {decl.rest})")
    return lines


def reference_markdown(kinds: dict[str, type], runtime: Params) -> str:
    """docs/reference.md: the runtime keys of every node table, then every node kind, its ports and params."""
    out = ["# Reference: node kinds, their ports and parameters", "",
           "Generated from the declarations in the code (`spikestream/params.py`, each node kind's `PARAMS`);",
           "do not edit by hand: `spikestream kinds --reference > docs/reference.md` writes it, and",
           "`tests/runtime/test_reference_doc.py` fails when it is stale. `spikestream check PIPELINE` checks a",
           "file against these tables (and the graph) without starting anything; `spikestream kinds --params`",
           "prints the same in a terminal. Nested tables whose kind declares its keys (decoders, conditioning",
           "stages, the safety stage: [below](#nested-tables)) are checked at load too; the other nested",
           "`{kind = ...}` tables are checked by their own registries when the stage is built.", "",
           "## Keys of every node table (`[nodes.NAME]`)", "", *params_table(runtime), ""]
    for kind in sorted(kinds):
        cls = kinds[kind]
        out += [f"## `{kind}`", ""]
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].split(". ")[0].replace("\n", " ").strip()
        if doc:
            out += [doc.rstrip(".") + ".", ""]
        ins = ", ".join(f"`{p}` ({' / '.join(k)}{', optional' if p in cls.optional else ''})"
                        for p, k in cls.inputs.items()) or "none"
        outs = ", ".join(f"`{p}` ({k}{', optional' if p in cls.optional else ''})"
                         for p, k in cls.outputs.items()) or "none"
        out += [f"- inputs: {ins}", f"- outputs: {outs}", ""]
        decl = getattr(cls, "PARAMS", None)
        if decl is None:
            out += ["Parameters not declared (checked by the node when it starts).", ""]
        else:
            out += ["Parameters (`params = {...}`):", "", *params_table(decl), ""]
    out += _nested_reference()
    return "\n".join(out).rstrip() + "\n"


def _first_sentence(obj: Any) -> str:
    doc = re.split(r"\.\s+(?=[A-Z])", (obj.__doc__ or "").strip().split("\n\n")[0])[0]
    doc = " ".join(doc.split())
    return doc.rstrip(".") + "." if doc else ""


def _shipped(reg) -> list[str]:
    """`reg`'s kinds that spikestream defines (no plugin's, none a test registered)."""
    return [k for k in reg.names() if getattr(reg.get(k), "__module__", "").startswith("spikestream.")]


def _nested_reference() -> list[str]:
    """The nested tables' declarations: each shipped kind with a `PARAMS`, and the safety stage."""
    from spikestream import registry as R
    from spikestream._kinds import kind_params
    from spikestream.safety import SAFETY_TABLE

    out = ["## Nested tables", "",
           "Checked at load like a node's own params, located as `params.decoder: KEY`,",
           "`params.conditioning[2]: KEY` (or `params.encoder.conditioning[2]: KEY` in an input node).", ""]
    families = [(R.DECODERS, "Decoders", "`decoder = {kind = ..., ...}` in `control_output` (docs/decoders.md)"),
                (R.CONDITIONERS, "Conditioning stages", "`conditioning = [{kind = ..., ...}, ...]` in `encoder` and "
                 "in an input node's `encoder` table; `n_channels` and `rate_hz` come from the stream (a frequency "
                 "must also lie below Nyquist, checked when the rate is known; docs/encoders.md)"),
                (R.SINKS, "Sinks", "`sinks = [{kind = ..., ...}, ...]` in `control_output` (docs/sinks.md); keys and "
                 "types read off each sink's constructor, ranges checked when it is built"),
                (R.EVENT_FILTERS, "Event filters", "`filters = [{kind = ..., ...}, ...]` in the event camera nodes "
                 "(docs/event-streaming.md); the table is built into the filter's parameter class at load, so "
                 "its own checks run (ranges included; the sensor size waits for the recording)")]
    undeclared = [f"{R.ENCODERS.family}s: {', '.join(_shipped(R.ENCODERS))} (in the encoder node and an input "
                  "node's `encoder` table, unknown keys are named at load: the encoder's own keywords)"]
    for reg, title, where in families:
        out += [f"### {title}", "", where + ".", ""]
        for kind in _shipped(reg):
            decl = kind_params(reg, kind, derived=True)
            out += [f"#### `{kind}`", ""]
            doc = _first_sentence(reg.get(kind))
            if doc:
                out += [doc, ""]
            if decl is None:
                out += ["Keys not declared (checked when the stage is built).", ""]
            else:
                out += [*params_table(decl), ""] if decl.params else ["No keys besides `kind`.", ""]
    out += ["### The safety stage", "", "`safety = {...}` in `control_output` (docs/safety.md); with a decoder of "
            "class labels, `discrete`, `lo` and `hi` follow its classes.", "", *params_table(SAFETY_TABLE), "",
            "### Checked when the stage is built", "", *(f"- {u}" for u in undeclared), ""]
    return out
