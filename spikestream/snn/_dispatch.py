"""The network loop's neuron and learning-rule dispatch, generated from the declared models and rules.

`kernel.step_loop` calls ``_update_layer(code, ...)`` for every layer and step. This module writes a small
module holding that function — an if-chain over the codes of `neuron.STEPS`, ``code == c`` calling step c —
followed by the loop's own source, both ``@njit(cache=True)``, imports it, hands it the step kernels and
returns its loop. So a model declared in any module (a plugin, a test) is dispatched without editing a table,
and the machine code is what the hand-written elif chain gave (benchmarks/snn_vs_brian2.py: same speed).

Learning rules the same way: the module also holds ``_pre_amp``, ``_post_amp`` and ``_rate_amp``, if-chains
over the codes of `learning.RULES` calling each rule's hooks, and the generic plasticity kernels that call
them (`plasticity.TEMPLATES`, compiled from their source here, before the loop that calls them).

Caching (the generic part is `spikestream._codegen`, shared with the event filters' fused kernel). The file
is named after a SHA-256 of its text, of the snn package's source fingerprint
(`spikestream._jitcache`, which covers the helpers the kernels call) and of every step's source file, and is
written once (atomically) and never rewritten: Numba's on-disk cache of it stays valid until one of those
changes, and then a new file is used. It lives in ``snn/__pycache__`` (else ``$XDG_CACHE_HOME/spikestream``;
neither writable: compiled from memory, uncached); writing a new one removes those left from older sources.
Not used: a tuple of step functions passed to the loop and ``literal_unroll`` over it. Numba 0.68 types
it as an experimental first-class function tuple whose cache entry a new process does not match: it
recompiled in every process (measured with NUMBA_DEBUG_CACHE).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

from spikestream import _codegen
from spikestream.snn import learning, neuron, plasticity

_SNN = Path(neuron.__file__).resolve().parent
_ARGS = "lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk"
#: The rule hooks' dispatch: (generated function, its arguments after the code, the hook, the value when a
#: rule has no such hook).
_HOOKS = (("_pre_amp", "pp, p, x2", "pre_amp", "0.0"), ("_post_amp", "pp, p, y2", "post_amp", "0.0"),
          ("_rate_amp", "pp, p, amp, rate", "rate_amp", "amp"))
_loaded: tuple[tuple, Callable] | None = None


def loop(template: Callable) -> Callable:
    """`template` (the loop's Python source, calling ``_update_layer`` and the plasticity kernels) compiled
    against the dispatch over every step in `neuron.STEPS` and every rule in `learning.RULES`; generated once
    per process and set of steps and rules."""
    global _loaded
    if _loaded is not None and _loaded[0] == (neuron.STEPS, learning.RULES):  # same objects: a quick check
        return _loaded[1]
    steps, declared = dict(neuron.STEPS), dict(learning.RULES)
    rules = {c: tuple(getattr(r, h) for _, _, h, _ in _HOOKS) for c, r in declared.items()}
    mod = _load(source(template, steps, rules), steps, rules)
    _loaded = ((steps, declared), getattr(mod, template.__name__))
    return _loaded[1]


def _if_chain(name: str, args: str, codes: list[int], call: Callable[[int], str], default: str) -> list[str]:
    lines = ["", "", "@njit(cache=True)", f"def {name}(code, {args}):"]
    for k, c in enumerate(codes):
        lines += [f"    {'if' if k == 0 else 'elif'} code == {c}:", f"        {call(c)}"]
    return lines + ([f"    return {default}"] if default else ["    pass"] if not codes else [])


def source(template: Callable, steps: dict[int, Callable], rules: dict[int, tuple] | None = None) -> str:
    """The generated module's text (without its key line)."""
    rules = {} if rules is None else rules
    codes = sorted(steps)
    kernels = plasticity.TEMPLATES
    skip = ("_update_layer", *(h[0] for h in _HOOKS), *(k.__name__ for k in kernels))
    names = sorted({n for k in kernels for n in _codegen.template_names(k, skip)})
    lines = ["from numba import njit", "", _codegen.template_imports(template, skip),
             f"from {plasticity.__name__} import {', '.join(names)}", "",
             "# the step kernels and rule hooks, set by spikestream.snn._dispatch before the first call"]
    lines += [f"step_{c} = None  # {neuron.step_key(steps[c])}" for c in codes]
    lines += [f"{h}_{c} = None  # {_codegen.func_key(f)}" for c in sorted(rules)
              for (_, _, h, _), f in zip(_HOOKS, rules[c]) if f is not None]
    lines += _if_chain("_update_layer", _ARGS, codes, lambda c: f"step_{c}({_ARGS})", "")
    for i, (name, args, hook, default) in enumerate(_HOOKS):
        have = [c for c in sorted(rules) if rules[c][i] is not None]
        lines += _if_chain(name, args, have, lambda c: f"return {hook}_{c}({args})", default)
    for k in kernels:
        lines += ["", "", "@njit(cache=True)", inspect.getsource(k).rstrip("\n")]
    lines += ["", "", "@njit(cache=True)"]
    return "\n".join(lines) + "\n" + inspect.getsource(template)


def _fingerprint() -> str:
    return _codegen.fingerprint(_SNN)


def _key(text: str, steps: dict[int, Callable], rules: dict[int, tuple] | None = None) -> str:
    hooks = [f for c in sorted(rules or {}) for f in rules[c] if f is not None]
    return _codegen.key(text, [steps[c] for c in sorted(steps)] + hooks)


def _dirs() -> list[Path]:
    """Where the generated file may go: the package's own cache, else the user's (`_codegen.cache_dirs`)."""
    return _codegen.cache_dirs(_SNN)


def _write(text: str, name: str) -> Path | None:
    """The generated file `name` (written now if missing) in the first writable directory."""
    return _codegen.write(text, name, _dirs())


def _load(text: str, steps: dict[int, Callable], rules: dict[int, tuple] | None = None):
    fp = _fingerprint()
    text = f"# Generated by spikestream.snn._dispatch from the declared neuron models and rules; do not edit\n" \
           f"# sources {fp}\n" + text
    stem = f"_loop_{fp[:12]}_{_key(text, steps, rules)[:16]}"
    path = _write(text, stem + ".py")
    funcs = {f"step_{c}": step for c, step in steps.items()}
    funcs.update({f"{h}_{c}": f for c, fs in (rules or {}).items() for (_, _, h, _), f in zip(_HOOKS, fs)
                  if f is not None})
    return _codegen.load(text, path, f"spikestream.snn.{stem}", funcs)
