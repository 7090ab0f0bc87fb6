"""Generated dispatch modules for jitted kernels that call steps declared anywhere (a plugin, a test).

A kernel that dispatches over registered step functions (the SNN's neuron models, the event filters) is
compiled from a small generated module: an if-chain over integer codes, each branch calling one step (a
module global set before the first call), followed by the kernel's own source. Numba caches it like any
other ``@njit(cache=True)`` module, so it must live in a file whose text never changes under its name:

- `key`: a SHA-256 of the generated text and of every step's source file, so the name changes when a step
  does; the caller adds its package's source fingerprint (`fingerprint`, `spikestream._jitcache`) to the
  name, which covers the helpers the kernels call.
- `write`: the file is written once (atomically) and never rewritten, in the package's own ``__pycache__``,
  else ``$XDG_CACHE_HOME/spikestream`` (`cache_dirs`); never a shared temp directory (Numba's cache
  pickles there could be planted). Writing a new one removes those of older sources and their Numba caches.
- `load`: imports it (or, with nowhere to write, compiles it from memory, uncached) and sets the step
  globals.

Not used: a tuple of step functions passed to the kernel and ``literal_unroll`` over it: Numba 0.68 types
it as an experimental first-class function tuple whose cache entry a new process does not match, so it
recompiled in every process (measured with NUMBA_DEBUG_CACHE, see `spikestream.snn._dispatch`).
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.util
import inspect
import os
import sys
import types
from collections import namedtuple
from pathlib import Path
from typing import Any, Callable, Iterable

_STAMP = "numba-sources.sha256"


def slots(*names: str) -> Any:
    """Named integer indices 0, 1, ... in declaration order: a kernel's parameter slots (``prm[o, P.width]``)
    or state rows. A namedtuple instance: a jitted kernel reads it as constants (the generated machine code
    is that of ``prm[o, 2]``)."""
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise ValueError(f"slots need distinct identifiers, got {names}")
    return namedtuple("Slots", names)(*range(len(names)))


def func_key(f: Callable) -> str:
    """A function's identity across processes: ``module.qualname`` of its Python function."""
    f = getattr(f, "py_func", f)
    return f"{f.__module__}.{f.__qualname__}"


def template_names(template: Callable, skip: Iterable[str]) -> list[str]:
    """The globals `template` reads from its own module (except the generated names in `skip`)."""
    tmod = sys.modules[template.__module__]
    skip = set(skip)
    return sorted(n for n in set(template.__code__.co_names)
                  if n not in skip and hasattr(tmod, n) and not hasattr(builtins, n))


def template_imports(template: Callable, skip: Iterable[str]) -> str:
    """The import line giving the generated module the globals `template` reads from its own module
    (except the generated names in `skip`)."""
    return f"from {template.__module__} import {', '.join(template_names(template, skip))}"


def fingerprint(package_dir: Path) -> str:
    """The package's source fingerprint (the stamp `invalidate_if_stale` left, else computed)."""
    try:
        return (Path(package_dir) / "__pycache__" / _STAMP).read_text()
    except OSError:
        from spikestream._jitcache import fingerprint as compute

        return compute(package_dir)


def key(text: str, funcs: Iterable[Callable]) -> str:
    """SHA-256 of the generated text and of each function's source file (else its `func_key`)."""
    h = hashlib.sha256(text.encode())
    for f in funcs:
        try:
            h.update(Path(inspect.getsourcefile(f.py_func)).read_bytes())
        except (OSError, TypeError, AttributeError):
            h.update(func_key(f).encode())
    return h.hexdigest()


def cache_dirs(package_dir: Path) -> list[Path]:
    """Where a generated file may go: the package's own cache, else the user's. Not a shared temp
    directory: Numba's cache files there are pickles another user could plant."""
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [Path(package_dir).resolve() / "__pycache__", Path(xdg) / "spikestream"]


def write(text: str, name: str, dirs: list[Path]) -> Path | None:
    """The generated file `name` (``<_prefix>_<fingerprint>_<key>.py``, written now if missing) in the first
    writable directory of `dirs`; None when none is."""
    for d in dirs:
        path = d / name
        try:
            if path.read_text() == text:
                return path
        except OSError:
            pass
        try:
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / f"{name}.{os.getpid()}.tmp"
            tmp.write_text(text)
            tmp.replace(path)
        except OSError:
            continue
        _remove_stale(d, name)
        return path
    return None


def _remove_stale(d: Path, keep: str) -> None:
    """Generated files of older sources (another fingerprint part in the name) and their Numba caches."""
    prefix, fp = keep.split("_")[1], keep.split("_")[2]
    for f in d.glob(f"_{prefix}_*.py"):
        if f.name.split("_")[2] != fp:
            for g in [f, *(d / "__pycache__").glob(f"{f.stem}.*")]:
                g.unlink(missing_ok=True)


def load(text: str, path: Path | None, name: str, steps: dict[str, Callable]) -> types.ModuleType:
    """The generated module `name` from its file `path` (None: compiled from `text` in memory, without
    Numba's cache), with its step globals set (before any of its kernels is first called)."""
    if path is None:
        mod = types.ModuleType(name)
        exec(compile(text.replace("cache=True", "cache=False"), name, "exec"), mod.__dict__)
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    for k, f in steps.items():
        setattr(mod, k, f)
    return mod
