"""The keys of a registered kind's table (``{kind = ..., ...}``), for the loader's check and the reference.

A kind declares them as a `PARAMS` (`spikestream.params.Params`) on its registered factory: decoders,
conditioning stages. A kind that declares none is still checked at load, from what it does declare:

- a dataclass ``Params`` on the factory (an event filter's): the table is built into it, so its own checks
  run (unknown keys with a did-you-mean, types, ranges) and nothing else is touched;
- otherwise its constructor's keywords (a sink's, a plugin's): the names, the annotated types ``int``,
  ``float``, ``bool``, ``str`` and the defaults. A keyword-only argument without a default is required; a
  positional one without a default may be given or left to the host (a stage's ``n_channels``, a decoder's
  ``n_inputs``), so it is declared but not required. Ranges then wait for the build.

Re-exported by `spikestream.params`.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from spikestream.params import REQUIRED, NestedParamError, Param, ParamError, Params, build_dataclass, validate

_ANNOTATED = {"int": int, "float": float, "bool": bool, "str": str}


def kind_params(registry, kind: str, derived: bool = False) -> Params | None:
    """The declared keys of a registered kind's table (its factory's `PARAMS`, without `kind`); with
    `derived`, else the ones read off its dataclass ``Params`` or its constructor (`derived_params`)."""
    factory = registry.get(kind)
    decl = getattr(factory, "PARAMS", None)
    if isinstance(decl, Params):
        return decl
    return derived_params(factory) if derived else None


def derived_params(factory: Any) -> Params | None:
    """Keys read off a kind that declares none (see the module doc); None when it takes any keyword."""
    dc = getattr(factory, "Params", None)
    if dataclasses.is_dataclass(dc):
        items = [(f.name, f.type, REQUIRED if f.default is dataclasses.MISSING else f.default)
                 for f in dataclasses.fields(dc)]
    else:
        try:
            sig = inspect.signature(factory).parameters.values()
        except (TypeError, ValueError):
            return None
        if any(q.kind is q.VAR_KEYWORD for q in sig):
            return None
        items = [(q.name, q.annotation, q.default if q.default is not q.empty
                  else REQUIRED if q.kind is q.KEYWORD_ONLY else None)
                 for q in sig if q.kind in (q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)]
    out = []
    for name, ann, default in items:
        t = _ANNOTATED.get(ann if isinstance(ann, str) else getattr(ann, "__name__", ""), object)
        out.append(Param(name, t, default, finite=False))
    return Params(*out)


def check_kind_table(registry, kind: str, rest: dict, at: str) -> None:
    """The rest of a ``{kind = ...}`` table checked against what the kind declares (`at`: ``""`` or
    ``"[i]"``, continued by the error's text, see `NestedParamError`)."""
    factory = registry.get(kind)
    decl = kind_params(registry, kind)
    try:
        if decl is None and dataclasses.is_dataclass(getattr(factory, "Params", None)):
            build_dataclass(factory.Params, rest, f"{registry.family} {kind!r}")
            return
        decl = decl if decl is not None else derived_params(factory)
        if decl is not None:
            validate(rest, decl, at)
    except ParamError as e:
        raise NestedParamError(str(e)) from None
    except ValueError as e:
        raise NestedParamError(f"{at}: {e}") from None
