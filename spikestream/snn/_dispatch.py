"""The network loop's neuron dispatch, generated from the declared neuron models.

`kernel.step_loop` calls ``_update_layer(code, ...)`` for every layer and step. This module writes a small
module holding that function — an if-chain over the codes of `neuron.STEPS`, ``code == c`` calling step c —
followed by the loop's own source, both ``@njit(cache=True)``, imports it, hands it the step kernels and
returns its loop. So a model declared in any module (a plugin, a test) is dispatched without editing a table,
and the machine code is what the hand-written elif chain gave (benchmarks/snn_vs_brian2.py: same speed).

Caching. The file is named after a SHA-256 of its text, of the snn package's source fingerprint
(`spikestream._jitcache`, which covers the helpers the kernels call) and of every step's source file, and is
written once (atomically) and never rewritten: Numba's on-disk cache of it stays valid until one of those
changes, and then a new file is used. It lives in ``snn/__pycache__`` (else ``$XDG_CACHE_HOME/spikestream``;
neither writable: compiled from memory, uncached); writing a new one removes those left from older sources.
Not used: a tuple of step functions passed to the loop and ``literal_unroll`` over it. Numba 0.68 types
it as an experimental first-class function tuple whose cache entry a new process does not match: it
recompiled in every process (measured with NUMBA_DEBUG_CACHE).
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.util
import inspect
import os
import sys
import types
from pathlib import Path
from typing import Callable

from spikestream.snn import neuron

_STAMP = "numba-sources.sha256"
_ARGS = "lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk"
_loaded: tuple[dict, Callable] | None = None


def loop(template: Callable) -> Callable:
    """`template` (the loop's Python source, calling ``_update_layer``) compiled against the dispatch over
    every step in `neuron.STEPS`; generated once per process and set of steps."""
    global _loaded
    if _loaded is not None and _loaded[0] == neuron.STEPS:
        return _loaded[1]
    steps = dict(neuron.STEPS)
    mod = _load(source(template, steps), steps)
    _loaded = (steps, getattr(mod, template.__name__))
    return _loaded[1]


def source(template: Callable, steps: dict[int, Callable]) -> str:
    """The generated module's text (without its key line)."""
    tmod = sys.modules[template.__module__]
    names = sorted(n for n in set(template.__code__.co_names)
                   if n != "_update_layer" and hasattr(tmod, n) and not hasattr(builtins, n))
    codes = sorted(steps)
    lines = ["from numba import njit", "",
             f"from {tmod.__name__} import {', '.join(names)}", "",
             "# the step kernels, set by spikestream.snn._dispatch before the first call"]
    lines += [f"step_{c} = None  # {neuron.step_key(steps[c])}" for c in codes]
    lines += ["", "", "@njit(cache=True)", f"def _update_layer(code, {_ARGS}):"]
    for k, c in enumerate(codes):
        lines += [f"    {'if' if k == 0 else 'elif'} code == {c}:", f"        step_{c}({_ARGS})"]
    if not codes:
        lines += ["    pass"]
    lines += ["", "", "@njit(cache=True)"]
    return "\n".join(lines) + "\n" + inspect.getsource(template)


def _fingerprint() -> str:
    snn = Path(neuron.__file__).resolve().parent
    try:
        return (snn / "__pycache__" / _STAMP).read_text()
    except OSError:
        from spikestream._jitcache import fingerprint

        return fingerprint(snn)


def _key(text: str, steps: dict[int, Callable]) -> str:
    h = hashlib.sha256(text.encode())
    for c in sorted(steps):
        try:
            h.update(Path(inspect.getsourcefile(steps[c].py_func)).read_bytes())
        except (OSError, TypeError):
            h.update(neuron.step_key(steps[c]).encode())
    return h.hexdigest()


def _dirs() -> list[Path]:
    """Where the generated file may go: the package's own cache, else the user's. Not a shared temp
    directory: Numba's cache files there are pickles another user could plant."""
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [Path(neuron.__file__).resolve().parent / "__pycache__", Path(xdg) / "spikestream"]


def _write(text: str, name: str) -> Path | None:
    """The generated file `name` (written now if missing) in the first writable directory."""
    for d in _dirs():
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
    fp = keep.split("_")[2]
    for f in d.glob("_loop_*.py"):
        if f.name.split("_")[2] != fp:
            for g in [f, *(d / "__pycache__").glob(f"{f.stem}.*")]:
                g.unlink(missing_ok=True)


def _load(text: str, steps: dict[int, Callable]):
    fp = _fingerprint()
    text = f"# Generated by spikestream.snn._dispatch from the declared neuron models; do not edit.\n" \
           f"# sources {fp}\n" + text
    stem = f"_loop_{fp[:12]}_{_key(text, steps)[:16]}"
    path = _write(text, stem + ".py")
    name = f"spikestream.snn.{stem}"
    if path is None:  # nowhere to write: compile from memory, without Numba's cache
        mod = types.ModuleType(name)
        exec(compile(text.replace("@njit(cache=True)", "@njit"), name, "exec"), mod.__dict__)
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    for c, step in steps.items():
        setattr(mod, f"step_{c}", step)
    return mod
