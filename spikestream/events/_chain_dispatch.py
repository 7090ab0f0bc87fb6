"""The fused filter kernel, generated from the declared event filters' own kernels.

`_chain_kernel.run_chain` is a template: its ``_start_op(...)``, ``_prefetch_op(...)`` and ``_apply_op(...)``
lines become if-chains over the codes of `_filter_base.DECLARED`, ``code == c`` holding filter c's own
``start`` / ``prefetch`` / ``step`` body, inlined as source: its arguments are the kernel's variables of the
same place in the call, its locals and module globals renamed ``<name>_f<c>...`` (the globals are set on
the generated module), its final ``return keep, xi, yi`` an assignment. So a filter declared in any module (a
plugin, a test) runs fused without editing a table, and the machine code is that of the hand-written op
chain it replaces (same arrays, one process: 26.8 vs 26.7 Mev/CPU-s, docs/event-streaming.md).

Not used: calling the steps as functions from a generated if-chain (as `spikestream.snn._dispatch` does for
neuron models, whose steps each loop over a whole layer). Here a step runs per event and op; passing the
arrays to it costs NRT reference counts (atomic) per call that Numba does not prune: 3.4 Mev/CPU-s instead of
27 with LLVM inlining, 5.2 with ``inline="always"`` (3 filters + downsample, 640x480, measured).
A kernel must therefore return once, at its end, and assign no argument but ``xi, yi`` (checked).

Caching (`spikestream._codegen`): the file ``events/__pycache__/_chain_<sources>_<key>.py`` is named after
the events package's source fingerprint and a SHA-256 of its text and of every filter's source file, written
once and never rewritten, so Numba's on-disk cache of it stays valid until one of those changes.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any, Callable

from spikestream import _codegen
from spikestream.events import _chain_kernel, _filter_base

_EVENTS = Path(_chain_kernel.__file__).resolve().parent
#: Each kernel's arguments, as the template passes them (after the op's code).
ARGS = {"start": ("o", "prm", "sc"),
        "prefetch": ("o", "prm", "st64", "st32", "xa", "ya"),
        "step": ("o", "prm", "st64", "st32", "sc", "xi", "yi", "ti", "pi")}
_WRITABLE = {"step": ("xi", "yi"), "start": (), "prefetch": ()}
_LINE = re.compile(r"^( *)(?:ok, xi, yi = )?_(start|prefetch|apply)_op\(ops\[o\], ([^)]*)\)")
_loaded: tuple[tuple[type, ...], Callable] | None = None


def kernel() -> Callable:
    """`run_chain` compiled with every declared filter inlined; generated once per process and set of
    filters."""
    global _loaded
    declared = tuple(_filter_base.DECLARED)
    if _loaded is not None and _loaded[0] == declared:
        return _loaded[1]
    text, names = source(_chain_kernel.run_chain, declared)
    mod = _load(text, names, declared)
    _loaded = (declared, mod.run_chain)
    return _loaded[1]


def _key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def inline(f: Callable, what: str, c: int, names: dict[str, Any]) -> list[str]:
    """The body of kernel `f` (a ``start`` / ``prefetch`` / ``step`` of filter code `c`) as statements of the
    template: arguments renamed to the template's, globals suffixed ``_f<c>`` (each one's value added to
    `names`), locals ``_f<c>`` in a step (``_f<c>p`` / ``_f<c>s`` in a prefetch / start), the final
    ``return`` of a step an assignment to ``ok, xi, yi``."""
    py = getattr(f, "py_func", f)
    where = f"event filter kernel {_codegen.func_key(f)}"
    fn = ast.parse(textwrap.dedent(inspect.getsource(py))).body[0]
    fn.decorator_list = []
    args = [a.arg for a in fn.args.args]
    if len(args) != len(ARGS[what]) or fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs:
        raise ValueError(f"{where}: expected the arguments ({', '.join(ARGS[what])}), got ({', '.join(args)})")
    rename = dict(zip(args, ARGS[what]))
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    last = body[-1] if body else None
    if what == "step":
        if returns != [last] or not (isinstance(last.value, ast.Tuple) and len(last.value.elts) == 3):
            raise ValueError(f"{where}: a step returns (keep, xi, yi) once, at its end")
    elif any(r is not last or r.value is not None for r in returns):
        raise ValueError(f"{where}: a {what} kernel returns nothing")
    if any(isinstance(n, (ast.FunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                          ast.GeneratorExp, ast.Global, ast.Nonlocal)) for n in ast.walk(ast.Module(body, []))):
        raise ValueError(f"{where}: no nested functions, comprehensions or global statements in a filter kernel")
    stored = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bad = sorted(rename[a] for a in args if a in stored and rename[a] not in _WRITABLE[what])
    if bad:
        raise ValueError(f"{where}: assigns its argument(s) {bad}; use a local")
    for n in ast.walk(fn):
        if not isinstance(n, ast.Name):
            continue
        if n.id in rename:
            n.id = rename[n.id]
        elif n.id in stored:  # a local: its own name per filter and kernel (Numba types each name once)
            n.id = f"{n.id}_f{c}{'' if what == 'step' else what[0]}"
        elif n.id in py.__globals__:
            names[f"{n.id}_f{c}"] = py.__globals__[n.id]
            n.id = f"{n.id}_f{c}"
        elif not hasattr(builtins, n.id):
            raise ValueError(f"{where}: unknown name {n.id!r}")
    if what == "step":
        keep, *xy = last.value.elts
        if [getattr(e, "id", None) for e in xy] == ["xi", "yi"]:  # coordinates unchanged: ``ok = keep``
            body[-1] = ast.Assign([ast.Name("ok", ast.Store())], keep, lineno=0)
        else:
            body[-1] = ast.Assign([ast.Tuple([ast.Name(v, ast.Store()) for v in ("ok", "xi", "yi")], ast.Store())],
                                  last.value, lineno=0)
    elif returns:
        body = body[:-1]
    return ast.unparse(ast.fix_missing_locations(ast.Module(body or [ast.Pass()], []))).splitlines()


def _chain(what: str, declared: tuple[type, ...], names: dict[str, Any]) -> list[str]:
    """The if-chain replacing one template line (without indentation)."""
    out = ["code = ops[o]"]
    for c, cls in enumerate(declared):
        f = getattr(cls, "step" if what == "apply" else what)
        stop = what == "prefetch" and cls.remaps  # coordinates change from here on
        if f is None and not stop:
            continue
        out.append(f"{'if' if len(out) == 1 else 'elif'} code == {c}:  # {_key(cls)}")
        body = inline(f, "step" if what == "apply" else what, c, names) if f is not None else []
        out += ["    " + b for b in body + (["break"] if stop else [])]
    return out if len(out) > 1 else ["pass"]


def source(template: Callable, declared: tuple[type, ...]) -> tuple[str, dict[str, Any]]:
    """The generated module's text (without its header lines) and the globals to set on it."""
    names: dict[str, Any] = {}
    lines = []
    for line in inspect.getsource(template).splitlines():
        m = _LINE.match(line)
        if m is None:
            lines.append(line)
            continue
        what = m.group(2)
        if tuple(a.strip() for a in m.group(3).split(",")) != ARGS["step" if what == "apply" else what]:
            raise ValueError(f"run_chain template: {line.strip()!r} does not pass {ARGS}")
        lines += [m.group(1) + b for b in _chain(what, declared, names)]
    head = ["from numba import njit", "",
            _codegen.template_imports(template, ("_start_op", "_prefetch_op", "_apply_op")), "",
            "# the filters' globals, set by spikestream.events._chain_dispatch before the first call"]
    head += [f"{n} = None" for n in sorted(names)]
    return "\n".join(head + ["", "", "@njit(cache=True)"] + lines) + "\n", names


def _load(text: str, names: dict[str, Any], declared: tuple[type, ...]):
    fp = _codegen.fingerprint(_EVENTS)
    text = ("# Generated by spikestream.events._chain_dispatch from the declared event filters; do not edit.\n"
            f"# sources {fp}\n" + text)
    kernels = [getattr(cls, k) for cls in declared for k in ("step", "start", "prefetch")
               if getattr(cls, k) is not None]
    stem = f"_chain_{fp[:12]}_{_codegen.key(text, kernels)[:16]}"
    path = _codegen.write(text, stem + ".py", _codegen.cache_dirs(_EVENTS))
    return _codegen.load(text, path, f"spikestream.events.{stem}", names)
