"""One parameter layer: a table's keys declared once, checked once, documented from the same place.

A node kind (and the runtime, for a node table's own keys) declares its parameters as a `Params` list of
`Param` records: name, type, default, unit, range or choices, and a line of doc::

    PARAMS = Params(
        Param("rate_hz", float, 1000.0, unit="Hz", lo=0, lo_open=True, doc="sample rate"),
        Param("pace", str, "realtime", choices=("realtime", "fast"), doc="..."),
    )

`validate(table, decl, where)` rejects unknown keys (with a "did you mean"), wrong types and out-of-range
values, each with one line naming `where` (``FILE: node 'NAME' params``) and the key, and returns the typed
values with the defaults filled in. The pipeline loader runs it on every node table before any node
starts (`spikestream check` runs nothing else); a node runs it again in `setup` on its own params (a no-op
for a loaded file, the check for a node built in a test or a notebook). `spikestream kinds --params` and
docs/reference.md are printed from the same declarations (`reference_markdown`).

A nested ``{kind = ...}`` table is one key checked by `selector(REGISTRY)`: the kind it names declares its
own keys the same way (a `PARAMS` on the registered factory: decoders, conditioning stages; else what
`spikestream._kinds` reads off it), and its errors are located under the key (``params.decoder: KEY``,
``params.conditioning[2]: KEY``). A stage's parameter record can be built from its declaration
(`params_dataclass`), so the loader and the stage read one set of defaults and ranges.

Types: ``int`` (an integer, never a bool), ``float`` (any real number but a bool; finite unless
``finite=False``), ``bool``, ``str``, ``list`` (``items`` gives the element type, ranges apply to each
element), ``dict`` (a table); a tuple of them accepts any (the first that fits converts).
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from spikestream._checks import _did_you_mean, _num, build_dataclass, check_number, check_per_item

__all__ = ["REQUIRED", "Param", "Params", "ParamError", "NestedParamError", "selector", "kind_params", "derived_params",
           "build_kind", "check_number", "check_per_item", "build_dataclass", "params_dataclass", "validate", "node_params",
           "params_text", "reference_markdown"]


class _Required:
    def __repr__(self) -> str:
        return "required"


#: The default of a key that must be given.
REQUIRED: Any = _Required()

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
               dict: "a table", object: "any value"}
_PLURAL = {int: "integers", float: "numbers", bool: "true/false values", str: "strings", list: "lists", dict: "tables"}
_SHORT = {int: "int", float: "float", bool: "bool", str: "str", list: "list", dict: "table", object: "any"}


class ParamError(ValueError):
    """A parameter that cannot be used; the text names where (file and table) and the key."""


class NestedParamError(ParamError):
    """Raised by a key's `check` on a nested table: the text continues the key's name (``[2]: ...``,
    ``: ...``), so that `validate` reports ``WHERE.KEY[2]: ...``."""


@dataclass(frozen=True)
class Param:
    """One declared key. `default` None: optional, absent gives None; `REQUIRED`: must be given."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # (lo, hi] instead of [lo, hi]
    hi_open: bool = False  # [lo, hi) instead of [lo, hi]
    choices: tuple | None = None
    items: type | None = None  # a list's element type
    doc: str = ""
    finite: bool = True  # a float must be finite (inf allowed with False; nan never)
    min_items: int = 0  # a list's shortest length
    expect: str = ""  # what a wrong type is told it must be (instead of the type's name), e.g. "a list of CPUs"
    #: A table's own declared keys, validated in turn (the error then names ``params.KEY: SUBKEY``).
    fields: Params | None = None
    #: A further check (and conversion) after type, range and choices: returns the value, raises ValueError.
    check: Callable[[Any], Any] | None = None

    def types(self) -> tuple[type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    def type_text(self) -> str:
        t = " or ".join(_SHORT.get(x, x.__name__) for x in self.types())
        if list in self.types() and self.items is not None:
            t = t.replace("list", f"list of {_SHORT.get(self.items, self.items.__name__)}")
        return t

    def range_text(self, numbers_only: bool = False) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"> {_num(self.lo)}" if self.lo_open else f">= {_num(self.lo)}")
        if self.hi is not None:
            parts.append(f"< {_num(self.hi)}" if self.hi_open else f"<= {_num(self.hi)}")
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        if self.min_items and not numbers_only:
            parts.append(f"at least {self.min_items} item(s)")
        return " and ".join(parts)

    def default_text(self) -> str:
        if self.default is REQUIRED:
            return "required"
        if self.default is None:
            return "none"
        return repr(self.default) if not isinstance(self.default, bool) else str(self.default).lower()

    def convert(self, v: Any) -> Any:
        """`v` checked and converted; raises ValueError with the reason (no key, no location)."""
        for t in self.types():
            ok, out = _as(t, v, self.finite)
            if ok:
                break
        else:
            want = self.expect or " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types())
            raise ValueError(f"must be {want}, got {type(v).__name__} {v!r}")
        if isinstance(out, list):
            if len(out) < self.min_items:
                raise ValueError(f"must be {self.expect or f'a list of at least {self.min_items} item(s)'}, got {v!r}")
            if self.items is not None:
                conv = []
                for i, x in enumerate(out):
                    ok, y = _as(self.items, x, self.finite)
                    if not ok:
                        want = self.expect or f"a list of {_PLURAL.get(self.items, self.items.__name__ + 's')}"
                        raise ValueError(f"must be {want}; item {i} is {type(x).__name__} {x!r}")
                    try:
                        self._in_range(y)
                    except ValueError as e:
                        raise ValueError(f"must be {self.expect}; item {i} is {x!r}" if self.expect
                                         else f"item {i} {e}") from None
                    conv.append(y)
                out = conv
        elif isinstance(out, (int, float)) and not isinstance(out, bool):
            self._in_range(out)
        if self.choices is not None and out not in self.choices:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in self.choices)}, got {v!r}")
        if self.check is not None:
            out = self.check(out)
        return out

    def _in_range(self, x: Any) -> None:
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            return
        lo_bad = self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo))
        hi_bad = self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi))
        bad_float = isinstance(x, float) and (math.isnan(x) or (self.finite and math.isinf(x)))
        if lo_bad or hi_bad or bad_float:
            parts = [r for r in (self.range_text(numbers_only=True), "finite" if bad_float and self.finite else "") if r]
            raise ValueError(f"must be {' and '.join(parts) or 'a number'}, got {x!r}")


def _as(t: type, v: Any, finite: bool) -> tuple[bool, Any]:
    if t is bool:
        return (True, bool(v)) if isinstance(v, bool) or type(v).__name__ == "bool_" else (False, None)
    if t is int:
        if isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v).__name__ != "bool_":
            return True, int(v)
        return False, None
    if t is float:
        if isinstance(v, numbers.Real) and not isinstance(v, bool) and type(v).__name__ != "bool_":
            return True, float(v)  # nan and (when finite) inf are refused by the range check
        return False, None
    if t is str:
        return (True, v) if isinstance(v, str) else (False, None)
    if t is list:
        if type(v).__name__ == "ndarray" and v.ndim >= 1:  # a library caller's numpy array
            return True, v.tolist()
        return (True, list(v)) if isinstance(v, (list, tuple)) else (False, None)
    if t is dict:
        return (True, dict(v)) if isinstance(v, dict) else (False, None)
    return (True, v) if isinstance(v, t) else (False, None)


@dataclass(frozen=True)
class Params:
    """A table's declared keys. `rest` documents where undeclared keys go (e.g. "the encoder's own
    parameters"); without it an undeclared key is an error. With it, `rest_keys(values)` may name the keys
    allowed beyond the declared ones (None: any), checked the same way."""

    params: tuple[Param, ...] = ()
    noun: str = "parameter"  # what an unknown key is called in an error ("unknown parameter 'x'")
    rest: str | None = None
    rest_keys: Callable[[dict], Iterable[str] | None] | None = field(default=None, compare=False)
    #: A check across keys (on the typed values with the table's own keys): raises ValueError with the reason.
    check: Callable[[dict, dict], None] | None = field(default=None, compare=False)

    def __init__(self, *params: Param, rest: str | None = None,
                 rest_keys: Callable[[dict], Iterable[str] | None] | None = None, noun: str = "parameter",
                 check: Callable[[dict, dict], None] | None = None):
        names = [p.name for p in params]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"parameter(s) declared twice: {sorted(dup)}")
        object.__setattr__(self, "params", tuple(params))
        object.__setattr__(self, "rest", rest)
        object.__setattr__(self, "rest_keys", rest_keys)
        object.__setattr__(self, "noun", noun)
        object.__setattr__(self, "check", check)

    def __add__(self, other: Params | Iterable[Param]) -> Params:
        """These keys and `other`'s (a later declaration of a name replaces the earlier one)."""
        more = other.params if isinstance(other, Params) else tuple(other)
        rest = other.rest if isinstance(other, Params) and other.rest else self.rest
        rk = other.rest_keys if isinstance(other, Params) and other.rest_keys else self.rest_keys
        new = {p.name for p in more}
        ck = other.check if isinstance(other, Params) and other.check else self.check
        return Params(*(p for p in self.params if p.name not in new), *more, rest=rest, rest_keys=rk, noun=self.noun,
                      check=ck)

    def with_defaults(self, **defaults: Any) -> Params:
        """These keys, in place, with other defaults for the ones named."""
        import dataclasses

        unknown = set(defaults) - set(self.names())
        if unknown:
            raise KeyError(f"no such parameter(s): {sorted(unknown)}")
        ps = [dataclasses.replace(p, default=defaults[p.name]) if p.name in defaults else p for p in self.params]
        return Params(*ps, rest=self.rest, rest_keys=self.rest_keys, noun=self.noun, check=self.check)

    def without(self, *names: str) -> Params:
        return Params(*(p for p in self.params if p.name not in names), rest=self.rest, rest_keys=self.rest_keys,
                      noun=self.noun, check=self.check)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def validate(self, table: Any, where: str = "params") -> dict[str, Any]:
        return validate(table, self, where)


def selector(registry, key: str = "kind") -> Callable[[Any], Any]:
    """A check for a `{kind = ..., ...}` table (or a list of them): `key` names something `registry` knows,
    and the rest of the table is checked against what that kind declares (`spikestream._kinds`: its
    `PARAMS`, else its dataclass ``Params`` or its constructor's keywords): unknown keys (did you mean),
    wrong types, out-of-range values, each located as ``KEY: ...`` or ``KEY[i]: ...`` under the table."""

    def one(t: Any, at: str = "") -> None:
        if not isinstance(t.get(key), str):
            raise NestedParamError(f"{at}: needs {key} = one of {', '.join(registry.names())}")
        if t[key] not in registry:
            raise NestedParamError(f"{at}: {key}: unknown {registry.family} {t[key]!r}"
                                   f"{_did_you_mean(t[key], registry.names())}")
        check_kind_table(registry, t[key], {k: v for k, v in t.items() if k != key}, at)

    def check(v: Any) -> Any:
        if isinstance(v, list):
            for i, t in enumerate(v):
                one(t, f"[{i}]")
        else:
            one(v)
        return v

    return check


def build_kind(registry, table: dict, where: str, **extra: Any) -> Any:
    """The registered kind a ``{kind = ..., ...}`` table names, built from the rest of the table (plus
    `extra`); a missing kind, an unknown kind and keywords the factory refuses are one ValueError."""
    kw = {k: v for k, v in table.items() if k != "kind"}
    kind = table.get("kind")
    if not isinstance(kind, str):
        raise ValueError(f"{where} needs kind = one of {registry.names()}")
    kw.update(extra)
    from spikestream.registry import UnknownKind

    try:
        return registry.create(kind, **kw)
    except UnknownKind as e:
        raise ValueError(str(e)) from None
    except TypeError as e:  # a factory that does not validate its keywords itself
        raise ValueError(f"{registry.family} {kind!r}: {e}") from None


def validate(table: Any, decl: Params, where: str = "params") -> dict[str, Any]:
    """`table`'s values typed and checked against `decl`, the defaults filled in (undeclared keys a `rest`
    allows pass unchanged). Raises `ParamError` naming `where` and the key: the first problem found."""
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ParamError(f"{where}: must be a table, got {type(table).__name__} {table!r}")
    known = decl.names()
    extra = [k for k in table if k not in known]
    if extra and decl.rest is None:
        k = sorted(extra)[0]
        raise ParamError(f"{where}: unknown {decl.noun} {k!r}{_did_you_mean(k, known)} (known: {', '.join(known) or 'none'})")
    out: dict[str, Any] = {}
    for p in decl.params:
        if p.name not in table or table[p.name] is None:
            if p.default is REQUIRED:
                raise ParamError(f"{where}: missing {decl.noun} {p.name!r} ({p.type_text()}"
                                 f"{': ' + p.doc if p.doc else ''})")
            out[p.name] = copy.deepcopy(p.default) if isinstance(p.default, (list, dict)) else p.default
            continue
        try:
            out[p.name] = p.convert(table[p.name])
        except NestedParamError as e:  # a selector's nested table: `e` continues the key's name
            raise ParamError(f"{where}.{p.name}{e}") from None
        except ParamError as e:  # a check that validated a nested table `where="KEY"`: locate it under ours
            raise ParamError(f"{where}.{e}") from None
        except ValueError as e:
            raise ParamError(f"{where}: {p.name} {e}") from None
        if p.fields is not None and isinstance(out[p.name], dict):
            out[p.name] = validate(out[p.name], p.fields, f"{where}.{p.name}")
    if extra and decl.rest_keys is not None:
        allowed = decl.rest_keys(out)
        if allowed is not None:
            allowed = set(allowed)
            bad = sorted(k for k in extra if k not in allowed)
            if bad:
                raise ParamError(f"{where}: unknown {decl.noun} {bad[0]!r}{_did_you_mean(bad[0], [*known, *allowed])} "
                                 f"(known: {', '.join([*known, *sorted(allowed)])})")
    for k in extra:
        out[k] = table[k]
    if decl.check is not None:
        try:
            decl.check(out, table)
        except ValueError as e:
            raise ParamError(f"{where}: {e}") from None
    return out


def _frozen(v: Any) -> Any:
    return tuple(_frozen(x) for x in v) if isinstance(v, (list, tuple)) else v


def params_dataclass(name: str, decl: Params, module: str, post: Callable[[Any], None] | None = None,
                     doc: str = "", where: str | None = None) -> type:
    """A frozen dataclass with one field per key of `decl`, in order, its defaults `decl`'s (REQUIRED keys,
    declared first, have none): the parameter record of a library stage whose table a pipeline file gives,
    so that the loader's check and the stage's build read one declaration. Constructing it validates every
    value (`validate`, located as `where`, default `name`), keeps the typed values (lists as tuples) and runs
    `post(self)`, a check across keys whose ValueError is located the same way. The class's `PARAMS` is `decl`."""
    import dataclasses

    where = where or name

    fields: list = []
    for p in decl.params:
        if p.default is REQUIRED:
            if any(len(f) == 3 for f in fields):
                raise ValueError(f"{name}: required parameter {p.name!r} declared after one with a default")
            fields.append((p.name, Any))
        else:
            fields.append((p.name, Any, dataclasses.field(default=_frozen(p.default))))

    def __post_init__(self) -> None:
        vals = validate({f[0]: getattr(self, f[0]) for f in fields}, decl, where)
        for k, v in vals.items():
            object.__setattr__(self, k, _frozen(v))
        if post is not None:
            try:
                post(self)
            except ParamError:
                raise
            except ValueError as e:
                raise ParamError(f"{where}: {e}") from None

    cls = dataclasses.make_dataclass(name, fields, frozen=True, namespace={"__post_init__": __post_init__,
                                                                           "PARAMS": decl})
    cls.__module__ = module
    cls.__doc__ = doc or f"{name}: the declared parameters (`PARAMS`), checked when constructed."
    return cls


def node_params(node: Any) -> dict[str, Any]:
    """A node's `params` validated against its kind's `PARAMS` (in `setup`: the check for a node built in a
    test or a notebook; a loaded pipeline file was checked already), located as ``KIND 'NAME' params``."""
    return validate(node.params, type(node).PARAMS, f"{node.kind} {node.name!r} params")


# the reference pages are printed from the declarations (docs/reference.md, `spikestream kinds --params`)
from spikestream._reference import params_table, params_text, reference_markdown  # noqa: E402
from spikestream._kinds import check_kind_table, derived_params, kind_params  # noqa: E402
