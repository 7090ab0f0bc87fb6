"""One value checked where a library stage is built (a stage's own keywords, not a pipeline table): the
same rules and the same words as `spikestream.params.validate`, for the stages a notebook builds without a
pipeline file. Re-exported by `spikestream.params` (import them from there)."""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Iterable


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) or \
        [k for k in known if len(key) >= 2 and (k.startswith(key) or key.startswith(k))][:1]  # dt -> dt_us
    return f"; did you mean {close[0]!r}?" if close else ""


# rules and the same words as `validate`, for the stages a notebook builds without a pipeline file.

def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def check_number(v: Any, what: str, *, integer: bool = False, lo: float | None = None, lo_open: bool = False,
                 hi: float | None = None, finite: bool = True, whole_float: bool = False, required: bool = False,
                 expect: str = "") -> Any:
    """`v` as an int (``integer``) or a float within [lo, hi] (``(lo, hi]`` with `lo_open`); never a bool,
    nan, or (with `finite`) inf. `whole_float` lets 3.0 pass as the integer 3. Raises ValueError
    ``"WHAT must be an integer >= 1, got 0"`` (`expect` replaces the generated description), or with
    `required` and `v` None ``"WHAT is required"``."""
    if v is None and required:
        raise ValueError(f"{what} is required")
    ok = _is_real(v)
    if ok and integer and not _is_int(v):
        ok = whole_float and math.isfinite(v) and float(v).is_integer()
    if ok and isinstance(v, float) and (math.isnan(v) or (finite and math.isinf(v))):
        ok = False
    if ok and lo is not None and (v < lo or (lo_open and v == lo)):
        ok = False
    if ok and hi is not None and v > hi:
        ok = False
    if not ok:
        desc = expect or ("an integer" if integer else "a finite number" if finite else "a number")
        if not expect:
            rng = [f"{'>' if lo_open else '>='} {_num(lo)}" if lo is not None else "",
                   f"<= {_num(hi)}" if hi is not None else ""]
            desc = " ".join([desc, " and ".join(r for r in rng if r)]).strip()
        raise ValueError(f"{what} must be {desc}, got {v!r}")
    return int(v) if integer else float(v)


def check_per_item(v: Any, what: str, n: int, *, lo: float | None = None, finite: bool = False):
    """One number or a list of `n` (one per output) as a float64 array of `n` (numpy imported here only):
    never nan; finite with `finite`; each >= `lo`."""
    import numpy as np

    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: one value or a list of {n} (one per output), got {v!r}") from None
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise ValueError(f"{what}: one value or a list of {n} (one per output), got {v!r}")
    if np.any(np.isnan(a)) or (finite and not np.all(np.isfinite(a))):
        raise ValueError(f"{what} must be {'finite' if finite else 'a number'}, got {v!r}")
    if lo is not None and np.any(a < lo):
        raise ValueError(f"{what} must be >= {_num(lo)}, got {v!r}")
    return a


def build_dataclass(cls: type, kw: dict, what: str | None = None) -> Any:
    """``cls(**kw)`` for a parameter dataclass, an unknown key (with a did-you-mean), a missing one and a
    keyword the class refuses each one ValueError naming `what` (default: the class name)."""
    import dataclasses

    what = what or cls.__name__
    fields = dataclasses.fields(cls)
    known = [f.name for f in fields]
    unknown = sorted(set(kw) - set(known))
    if unknown:
        k = unknown[0]
        raise ValueError(f"{what}: unknown parameter {k!r}{_did_you_mean(k, known)} (known: {', '.join(known)})")
    missing = [f.name for f in fields if f.name not in kw and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{what}: missing parameter(s) {missing}")
    try:
        return cls(**kw)
    except TypeError as e:
        raise ValueError(f"{what}: {e}") from None
