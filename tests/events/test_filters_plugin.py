"""Adding an event filter is one module: named params and slots, its state, its @njit step; the fused
chain's dispatch is generated from the declared filters (`spikestream.events._chain_dispatch`).

The end-to-end case runs in a subprocess so that the toy filter does not join this process's registry (the
kinds listings and reference pages other tests check)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from numba import njit

from spikestream.events import _chain_dispatch, _chain_kernel
from spikestream.events._filter_base import DECLARED

EVENTS = Path(_chain_kernel.__file__).resolve().parent

#: The whole of a new filter, as a plugin would ship it: keep the events on one colour of a checkerboard
#: of `cell`-pixel squares and count, per pixel, the events it dropped.
TOY = '''
from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import _prefetch
from spikestream.events._filter_base import EventFilter, State, _need_int


@dataclass(frozen=True)
class CheckerParams:
    cell: int = 1
    colour: int = 0

    def __post_init__(self):
        _need_int("toy_checker", "cell", self.cell, 1)
        if self.colour not in (0, 1):
            raise ValueError(f"event filter 'toy_checker': colour must be 0 or 1, got {self.colour!r}")


P = slots("width", "cell", "colour", "dropped")


@njit(cache=True)
def prefetch_checker(o, prm, st64, st32, xa, ya):
    j = prm[o, P.dropped] + ya * prm[o, P.width] + xa
    _prefetch(st64, j)


@njit(cache=True)
def step_checker(o, prm, st64, st32, sc, xi, yi, ti, pi):
    cell = prm[o, P.cell]
    keep = ((xi // cell + yi // cell) & 1) == prm[o, P.colour]
    if not keep:
        st64[prm[o, P.dropped] + yi * prm[o, P.width] + xi] += 1
    return keep, xi, yi


class CheckerFilter(EventFilter, kind="toy_checker"):  # registers it in EVENT_FILTERS
    Params = CheckerParams
    slots = P  # width: the sensor's; cell, colour: the params'; dropped: its state's offset
    state = {"dropped": State(np.int64, 0)}  # one counter per pixel
    step, prefetch = step_checker, prefetch_checker
'''

SCRIPT = r'''
import json, numpy as np
import toy_filter  # the one file: declares and registers "toy_checker"
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.filters import FilterChain
from spikestream.registry import EVENT_FILTERS

W, H = 64, 48
rng = np.random.default_rng(3)
n = 60_000
ev = np.zeros(n, EVENT_DTYPE)
ev["x"], ev["y"] = rng.integers(0, W, n), rng.integers(0, H, n)
ev["t"] = np.sort(rng.integers(0, 3_000_000, n))
ev["p"] = rng.integers(0, 2, n)
head = [{"kind": "hot_pixel", "window_us": 20_000, "max_events": 3}]
toy = [{"kind": "toy_checker", "cell": 4, "colour": 1}]
tail = [{"kind": "refractory", "period_us": 2_000}, {"kind": "downsample", "factor": 2}]

fused = FilterChain(head + toy + tail, W, H)
out = np.concatenate([fused(ev[a:a + 7_777]) for a in range(0, n, 7_777)])

# the same chain in three separate programs, the toy's rule written out in numpy between them
a = FilterChain(head, W, H)(ev)
keep = ((a["x"] // 4 + a["y"] // 4) & 1) == 1
ref = FilterChain(tail, W, H)(a[keep])
dropped = np.zeros(W * H, np.int64)
np.add.at(dropped, a["y"][~keep].astype(np.int64) * W + a["x"][~keep], 1)

state = fused.get_state()
try:
    FilterChain([{"kind": "toy_checker", "colour": 2}], W, H)
    err = None
except ValueError as e:
    err = str(e)
print(json.dumps({"same": bool(np.array_equal(out, ref)), "n_out": int(out.size), "n_head": int(a.size),
                  "n_toy": int(keep.sum()),
                  "dropped_ok": bool(np.array_equal(state["1.toy_checker.dropped"], dropped)),
                  "code": EVENT_FILTERS.get("toy_checker").code,
                  "codes": sorted(EVENT_FILTERS.get(k).code for k in EVENT_FILTERS.names()), "err": err}))
'''


def test_a_filter_from_one_file_runs_fused_with_the_built_in_ones(tmp_path):
    # a new set of filters compiles the fused kernel once in the subprocess (4 s measured)
    (tmp_path / "toy_filter.py").write_text(TOY)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["same"], res
    # every stage did something: the hot-pixel filter, the toy (about half) and the tail all dropped events
    assert 60_000 > res["n_head"] > res["n_toy"] > res["n_out"] > 0
    assert 0.3 < res["n_toy"] / res["n_head"] < 0.7
    assert res["dropped_ok"]
    assert res["code"] == len(DECLARED) and res["codes"] == list(range(len(DECLARED) + 1))
    assert res["err"] == "event filter 'toy_checker': colour must be 0 or 1, got 2"


def test_the_chain_kernel_is_generated_from_the_declared_filters():
    src, names = _chain_dispatch.source(_chain_kernel.run_chain, tuple(DECLARED))
    for c, cls in enumerate(DECLARED):
        assert f"if code == {c}:" in src or f"elif code == {c}:" in src, cls
        assert f"P_f{c}" in names and names[f"P_f{c}"] is cls.slots
    assert "_apply_op(" not in src and "_prefetch_op(" not in src and "_start_op(" not in src
    # the built-ins keep the old kernel's branch order (filters.py imports them so; it measured faster)
    assert [cls.kind for cls in DECLARED[:8]] == ["hot_pixel", "background_activity", "refractory", "decimate",
                                                   "rate_limit", "roi", "polarity", "downsample"]
    hand = Path(_chain_kernel.__file__).read_text()
    assert "elif code ==" not in hand and "OP_" not in hand


def test_filter_kernels_read_named_slots_only():
    """No filter kernel reads a parameter slot or scratch entry by number (``prm[o, 3]``, ``sc[o, 0]``)."""
    files = sorted(EVENTS.glob("filters_*.py"))
    assert len(files) >= 8
    for f in files:
        hits = re.findall(r"\b(?:prm|sc)\[\s*o\s*,\s*\d", f.read_text())
        assert not hits, f"{f.name}: {hits}"


@njit
def _early_return(o, prm, st64, st32, sc, xi, yi, ti, pi):
    if xi > 3:
        return False, xi, yi
    return True, xi, yi


@njit
def _writes_time(o, prm, st64, st32, sc, xi, yi, ti, pi):
    ti = ti + 1
    return ti > 0, xi, yi


@njit
def _wrong_args(o, prm, xi, yi):
    return True, xi, yi


@pytest.mark.parametrize("f, msg", [(_early_return, "once, at its end"), (_writes_time, r"argument\(s\) \['ti'\]"),
                                    (_wrong_args, "expected the arguments")])
def test_a_step_the_inliner_cannot_take_is_refused(f, msg):
    with pytest.raises(ValueError, match=msg):
        _chain_dispatch.inline(f, "step", 99, {})


def test_an_inlined_step_uses_the_chain_variables_and_renames_its_own():
    @njit
    def step(o, prm, a64, a32, scratch, x, y, t, p):
        k = prm[o, 0] + x
        return k > t, x - 1, y

    lines = _chain_dispatch.inline(step, "step", 5, names := {})
    assert lines == ["k_f5 = prm[o, 0] + xi", "ok, xi, yi = (k_f5 > ti, xi - 1, yi)"]
    assert names == {}

    @njit
    def keeps_coordinates(o, prm, st64, st32, sc, xi, yi, ti, pi):
        return pi != 0, xi, yi

    assert _chain_dispatch.inline(keeps_coordinates, "step", 2, {}) == ["ok = pi != 0"]
