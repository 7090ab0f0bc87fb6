"""spikestream.params: one declared parameter layer (issue 12, deliverable 2)."""

import math

import numpy as np
import pytest

from spikestream.params import REQUIRED, Param, ParamError, Params, selector, validate
from spikestream.registry import DECODERS

DECL = Params(
    Param("rate_hz", float, 1000.0, unit="Hz", lo=0, lo_open=True, doc="sample rate"),
    Param("chunk", int, 10, lo=1, hi=100),
    Param("pace", str, "realtime", choices=("realtime", "fast")),
    Param("truth", bool, True),
    Param("cpus", list, None, items=int, lo=0, min_items=1),
    Param("path", str, REQUIRED),
    Param("max_age_ms", float, 100.0, lo=0, lo_open=True, finite=False),
    Param("sub", dict, None, fields=Params(Param("threshold", float, 0.1, lo=0, lo_open=True))),
)
WHERE = "pipe.toml: node 'emg' params"


def test_valid_values_come_back_typed_with_defaults_filled():
    v = validate({"path": "x.csv", "rate_hz": 200, "chunk": np.int64(5), "cpus": [1, 2]}, DECL, WHERE)
    assert v == {"rate_hz": 200.0, "chunk": 5, "pace": "realtime", "truth": True, "cpus": [1, 2], "path": "x.csv",
                 "max_age_ms": 100.0, "sub": None}
    assert type(v["rate_hz"]) is float and type(v["chunk"]) is int
    assert validate({"path": "p", "max_age_ms": math.inf}, DECL)["max_age_ms"] == math.inf


@pytest.mark.parametrize("table,text", [
    ({"path": "p", "chunck": 3}, "pipe.toml: node 'emg' params: unknown parameter 'chunck'; did you mean 'chunk'?"),
    ({"path": "p", "zzz": 3}, "unknown parameter 'zzz' (known: rate_hz, chunk"),
    ({"path": "p", "chunk": 2.5}, "params: chunk must be an integer, got float 2.5"),
    ({"path": "p", "chunk": True}, "chunk must be an integer, got bool True"),
    ({"path": "p", "chunk": 0}, "chunk must be >= 1 and <= 100, got 0"),
    ({"path": "p", "rate_hz": "fast"}, "rate_hz must be a number, got str 'fast'"),
    ({"path": "p", "rate_hz": 0}, "rate_hz must be > 0, got 0.0"),
    ({"path": "p", "rate_hz": math.nan}, "rate_hz must be > 0 and finite, got nan"),
    ({"path": "p", "rate_hz": math.inf}, "rate_hz must be > 0 and finite, got inf"),
    ({"path": "p", "pace": "slow"}, "pace must be one of 'realtime', 'fast', got 'slow'"),
    ({"path": "p", "truth": 1}, "truth must be true or false, got int 1"),
    ({"path": "p", "cpus": 3}, "cpus must be a list, got int 3"),
    ({"path": "p", "cpus": []}, "cpus must be a list of at least 1 item(s)"),
    ({"path": "p", "cpus": [1, -1]}, "cpus item 1 must be >= 0, got -1"),
    ({}, "missing parameter 'path'"),
    ({"path": "p", "sub": {"treshold": 1}}, "params.sub: unknown parameter 'treshold'; did you mean 'threshold'?"),
    ({"path": "p", "sub": {"threshold": -1}}, "params.sub: threshold must be > 0"),
])
def test_bad_values_name_the_file_table_and_key(table, text):
    with pytest.raises(ParamError) as ei:
        validate(table, DECL, WHERE)
    assert text in str(ei.value)
    assert str(ei.value).startswith(WHERE)
    assert isinstance(ei.value, ValueError)  # a node's setup raising it exits 78 like any bad parameter


def test_rest_keys_and_cross_checks():
    def both(v, table):
        if v["a"] and "b" in table:
            raise ValueError("a and b exclude each other")

    d = Params(Param("a", bool, False), rest="the stage's own", rest_keys=lambda v: ["b", "c"], check=both)
    assert validate({"b": 1, "c": "x"}, d) == {"a": False, "b": 1, "c": "x"}  # passed on unchanged
    with pytest.raises(ParamError, match="unknown parameter 'd'"):
        validate({"d": 1}, d)
    with pytest.raises(ParamError, match="t: a and b exclude each other"):
        validate({"a": True, "b": 1}, d, "t")
    assert validate({"zzz": 1}, Params(rest="anything"))["zzz"] == 1  # no rest_keys: any key


def test_defaults_are_not_shared_between_calls():
    d = Params(Param("names", list, []))
    validate({}, d)["names"].append("x")
    assert validate({}, d)["names"] == []


def test_declarations_compose_and_a_name_is_declared_once():
    a = Params(Param("x", int, 1), Param("y", int, 2))
    b = a + Params(Param("y", int, 3)) + [Param("z", str, "")]
    assert b.names() == ["x", "y", "z"] and b["y"].default == 3
    assert a.without("x").names() == ["y"]
    with pytest.raises(ValueError, match="declared twice"):
        Params(Param("x", int), Param("x", float))


def test_selector_checks_the_kind_against_its_registry():
    check = selector(DECODERS)
    rls = {"kind": "linear_rls", "n_inputs": 2, "n_outputs": 1}
    assert check(rls) == rls  # the table as written (the defaults are filled in when the decoder is built)
    with pytest.raises(ValueError, match="unknown decoder 'linear_rl'; did you mean 'linear_rls'"):
        check({"kind": "linear_rl"})
    with pytest.raises(ValueError, match=r"^\[1\]: needs kind = one of"):
        check([rls, {"n": 1}])
    # a kind that declares its keys (PARAMS) has the rest of its table checked too, located by its place
    with pytest.raises(ValueError, match=r"^\[1\]: forgetting must be > 0 and <= 1, got 2"):
        check([rls, {**rls, "forgetting": 2}])


def test_every_node_kind_declares_its_params():
    from spikestream.cli import node_kinds

    for kind, cls in node_kinds(shipped_only=True).items():
        decl = getattr(cls, "PARAMS", None)
        assert isinstance(decl, Params), f"{kind} declares no PARAMS"
        for p in decl.params:
            assert p.doc or p.name in ("fail_setup",), f"{kind}.{p.name} has no doc"
            if p.default is not None and p.default is not REQUIRED:
                p.convert(p.default)  # every default passes its own declaration (raises otherwise)


def test_the_runtime_declaration_matches_what_the_runtime_reads():
    """Every key a node table may set is declared (RUNTIME) with NodeSpec's default: one fact, checked."""
    import dataclasses

    from spikestream.runtime.pipeline import RUNTIME, NodeSpec

    fields = {f.name: f.default for f in dataclasses.fields(NodeSpec)
              if f.name not in ("name", "kind", "inputs", "outputs", "params", "consumers", "curve_keys")}
    assert set(fields) == set(RUNTIME.names())
    for name, default in fields.items():
        assert RUNTIME[name].default == default, name
