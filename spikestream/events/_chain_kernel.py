"""The fused event-filter kernel: every filter of a chain is one op of `run_chain`, one jitted pass over a
chunk, and the helpers the filters' steps share (`_rebase`, `_prefetch`). `run_chain` is a template:
`spikestream.events._chain_dispatch` compiles its source together with the dispatch it calls
(``_start_op``, ``_prefetch_op``, ``_apply_op``: an if-chain over the declared filters' codes calling each
filter's own kernels, see `spikestream.events._filter_base`); `_filter_base._Program` lays out the arenas."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: "Never fired": far enough in the past that ``t - NEVER`` cannot overflow for any real timestamp.
NEVER = np.int64(-(1 << 62))


# ------------------------------------------------------------------------------------------------ kernel

#: Per-pixel timestamps of background_activity and refractory are int32, relative to a per-filter base
#: (int64) that moves forward, exactly, once time runs REBASE_US past it: half the table, twice the pixels in
#: cache. NEVER32 = "never fired, or longer ago than any window can reach" (windows are below REBASE_US).
REBASE_US = 1 << 30
NEVER32 = -(1 << 31)


@njit(cache=True)
def _rebase(st32, off, n, st64, jb, ti):
    """Move the base ``st64[jb]`` of the int32 table ``st32[off: off + n]`` to ``ti`` (REBASE_US or more
    past it: rare) and shift every entry by the difference, saturating at NEVER32 (entries then more than
    2**31 us old: outside any window). Returns 0, ``ti`` relative to the new base. The base starts at NEVER,
    so the first event rebases. Relative times stay below REBASE_US, so stored values fit int32, and every
    comparison equals the int64 one for events at most REBASE_US before the base (the base is never ahead of
    the newest event: only an event 17.9 min older than one already seen could be judged differently)."""
    d = ti - st64[jb]
    if d >= (1 << 32):  # everything falls out of range (also the first event)
        st32[off:off + n] = NEVER32
    else:
        for i in range(off, off + n):
            st32[i] = max(np.int64(st32[i]) - d, NEVER32)
    st64[jb] = ti
    return np.int64(0)


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Ask the CPU to start loading ``arr[idx]``'s cache line (llvm.prefetch: read, keep); no effect on results."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


PREFETCH_AHEAD = 8  # events


def run_chain(x, y, t, p, in_w, in_h, ops, prm, st64, st32, sc, ox, oy, ot, op_, rejected,
              mapped, map_w, map_h, both, clock, idx_out, t_out):
    """Every event through every op in order, stopping at the first op that drops it; survivors are written
    compacted to ``ox, oy, ot, op_`` or, with ``mapped``, straight to the slicer's neuron index and time
    (``idx_out``, ``t_out``: as `spikestream.events.slicing._map_events`, times clamped non-decreasing with
    ``clock = [last time, n clamped]``). Events outside ``in_w x in_h`` are counted in ``rejected[0]`` and
    dropped before any op sees them. Returns the number kept. ``ops[o]``: the code of op o's filter;
    ``prm[o]`` its named slots; ``st64`` / ``st32`` the state arenas; ``sc[o]`` its per-call scratch.

    The source of the kernel, not called as is: `spikestream.events._chain_dispatch` replaces each
    ``_start_op`` / ``_prefetch_op`` / ``_apply_op`` line with an if-chain over the declared filters' codes
    holding each filter's own kernel, inlined, and compiles it (@njit, cached)."""
    n_ops = ops.size
    for o in range(n_ops):
        _start_op(ops[o], o, prm, sc)  # noqa: F821 (generated: spikestream.events._chain_dispatch)
    k = 0
    n_ev = x.size
    for i in range(n_ev):
        # the table lines an event a few places ahead will touch, for the ops that see raw coordinates
        ia = i + PREFETCH_AHEAD
        if ia < n_ev:
            xa = np.int64(x[ia])
            ya = np.int64(y[ia])
            if xa < in_w and ya < in_h:
                for o in range(n_ops):  # up to the first op that changes coordinates
                    _prefetch_op(ops[o], o, prm, st64, st32, xa, ya)  # noqa: F821 (generated)
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi >= in_w or yi >= in_h:
            rejected[0] += 1
            continue
        ti = t[i]
        pi = p[i]
        ok = True
        for o in range(n_ops):
            ok, xi, yi = _apply_op(ops[o], o, prm, st64, st32, sc, xi, yi, ti, pi)  # noqa: F821 (generated)
            if not ok:
                break
        if ok:
            if mapped:
                if ti < clock[0]:
                    ti = clock[0]
                    clock[1] += 1
                clock[0] = ti
                j = yi * map_w + xi
                if both and pi != 0:
                    j += map_w * map_h
                idx_out[k] = j
                t_out[k] = ti
            else:
                ox[k] = xi
                oy[k] = yi
                ot[k] = ti
                op_[k] = pi
            k += 1
    return k
