"""The fused event-filter kernel: every filter of a chain is one op of `_run_chain`, one jitted pass over a
chunk (split out of filters.py; the filter classes in `spikestream.events.filters` pack each op's parameters
and state offsets, `spikestream.events._filter_base._Program` lays out the arenas)."""

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


# Op codes of the fused chain kernel; each filter is one op: a per-event predicate that may also update its
# own state and rewrite the event's coordinates. prm[o] holds the op's integer parameters, st64 / st32 the
# per-pixel state of every op (flat arenas, each op at its own offset), sc[o] per-call scratch.
OP_HOT_PIXEL, OP_BACKGROUND, OP_REFRACTORY, OP_DECIMATE, OP_RATE_LIMIT, OP_ROI, OP_POLARITY, OP_DOWNSAMPLE = range(8)
N_PRM = 8


@njit(cache=True)
def _run_chain(x, y, t, p, in_w, in_h, ops, prm, st64, st32, sc, ox, oy, ot, op_, rejected,
               mapped, map_w, map_h, both, clock, idx_out, t_out):
    """Every event through every op in order, stopping at the first op that drops it; survivors are written
    compacted to ``ox, oy, ot, op_`` or, with ``mapped``, straight to the slicer's neuron index and time
    (``idx_out``, ``t_out``: as `spikestream.events.slicing._map_events`, times clamped non-decreasing with
    ``clock = [last time, n clamped]``). Events outside ``in_w x in_h`` are counted in ``rejected[0]`` and
    dropped before any op sees them. Returns the number kept.

    hot_pixel: aligned windows ``[k w, (k+1) w)``; ``st32[off + 2 j: +2] = (window index mod 2**31, count in
    it - 2**31 if the window before had more than max_events)``; a division only when time leaves the cached
    window ``sc[o]``; counts saturate at max_events + 1. background_activity: a neighbour (own row first,
    early exit) fired less than ``dt`` before; every event refreshes its own pixel; int32 times relative to
    the op's base (`_rebase`), as refractory's. refractory: ``t - last > period``; ``last`` updated
    on kept events (or every event with ``extend``). decimate: every n-th event per pixel. rate_limit: the
    first ``max_events`` per aligned window, ``st64[off: off + 2] = (window, count)``."""
    n_ops = ops.size
    for o in range(n_ops):
        if ops[o] == OP_HOT_PIXEL:
            sc[o, 0] = 1  # empty cached window: the first event computes its window
            sc[o, 1] = 0
    k = 0
    n_ev = x.size
    for i in range(n_ev):
        # the table lines an event a few places ahead will touch, for the ops that see raw coordinates
        ia = i + PREFETCH_AHEAD
        if ia < n_ev:
            xa = np.int64(x[ia])
            ya = np.int64(y[ia])
            if xa < in_w and ya < in_h:
                for o in range(n_ops):
                    code = ops[o]
                    if code == OP_HOT_PIXEL:
                        _prefetch(st32, prm[o, 3] + 2 * (ya * prm[o, 0] + xa))
                    elif code == OP_BACKGROUND:
                        c = prm[o, 5] + ya * prm[o, 0] + xa
                        _prefetch(st32, c)
                        if ya > 0:
                            _prefetch(st32, c - prm[o, 0])
                        if ya + 1 < prm[o, 1]:
                            _prefetch(st32, c + prm[o, 0])
                    elif code == OP_REFRACTORY:
                        _prefetch(st32, prm[o, 4] + ya * prm[o, 0] + xa)
                    elif code == OP_DECIMATE:
                        _prefetch(st64, prm[o, 2] + ya * prm[o, 0] + xa)
                    elif code == OP_ROI or code == OP_DOWNSAMPLE:
                        break  # coordinates change from here on
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi >= in_w or yi >= in_h:
            rejected[0] += 1
            continue
        ti = t[i]
        pi = p[i]
        ok = True
        for o in range(n_ops):
            code = ops[o]
            if code == OP_HOT_PIXEL:
                width, window_us, max_events, off = prm[o, 0], prm[o, 1], prm[o, 2], prm[o, 3]
                if ti < sc[o, 0] or ti >= sc[o, 1]:
                    wl = ti // window_us
                    sc[o, 0] = wl * window_us
                    sc[o, 1] = sc[o, 0] + window_us
                    sc[o, 2] = wl & 0x7FFFFFFF
                w = sc[o, 2]
                j = off + 2 * (yi * width + xi)
                s0 = np.int64(st32[j])
                v = np.int64(st32[j + 1])  # count (31 bits), sign bit: "hot in the window before"
                c = v & 0x7FFFFFFF
                same = w == s0  # selects, not branches: the pattern is random and mispredictions dominate
                hot_before = (v < 0) if same else (w == ((s0 + 1) & 0x7FFFFFFF) and c > max_events)
                c = min(c + 1, max_events + 1) if same else np.int64(1)
                st32[j] = w
                st32[j + 1] = c - (np.int64(hot_before) << 31)
                ok = c <= max_events and not hot_before
            elif code == OP_BACKGROUND:
                width, height, dt_us, diagonal, include_self, off = (prm[o, 0], prm[o, 1], prm[o, 2],
                                                                     prm[o, 3] != 0, prm[o, 4] != 0, prm[o, 5])
                rt = ti - st64[prm[o, 6]]
                if rt >= REBASE_US:
                    rt = _rebase(st32, off, width * height, st64, prm[o, 6], ti)
                c = off + yi * width + xi
                left = xi > 0
                right = xi + 1 < width
                ok = (include_self and rt - st32[c] < dt_us) or (left and rt - st32[c - 1] < dt_us) or \
                     (right and rt - st32[c + 1] < dt_us)
                if not ok and yi > 0:
                    r = c - width
                    ok = rt - st32[r] < dt_us or (diagonal and ((left and rt - st32[r - 1] < dt_us) or
                                                                (right and rt - st32[r + 1] < dt_us)))
                if not ok and yi + 1 < height:
                    r = c + width
                    ok = rt - st32[r] < dt_us or (diagonal and ((left and rt - st32[r - 1] < dt_us) or
                                                                (right and rt - st32[r + 1] < dt_us)))
                st32[c] = max(rt, NEVER32)
            elif code == OP_REFRACTORY:
                width, period_us, extend, n_pix, off = prm[o, 0], prm[o, 1], prm[o, 2], prm[o, 3], prm[o, 4]
                rt = ti - st64[prm[o, 5]]
                if rt >= REBASE_US:
                    rt = _rebase(st32, off, n_pix, st64, prm[o, 5], ti)
                j = off + yi * width + xi
                ok = rt - st32[j] > period_us
                if ok or extend != 0:
                    st32[j] = max(rt, NEVER32)
            elif code == OP_DECIMATE:
                j = prm[o, 2] + yi * prm[o, 0] + xi
                c64 = st64[j] + 1
                ok = c64 >= prm[o, 1]
                st64[j] = 0 if ok else c64
            elif code == OP_RATE_LIMIT:
                j = prm[o, 2]
                wl = ti // prm[o, 0]
                if wl != st64[j]:
                    st64[j] = wl
                    st64[j + 1] = 0
                st64[j + 1] += 1
                ok = st64[j + 1] <= prm[o, 1]
            elif code == OP_ROI:
                x0, y0 = prm[o, 0], prm[o, 1]
                ok = xi >= x0 and xi < x0 + prm[o, 2] and yi >= y0 and yi < y0 + prm[o, 3]
                if ok and prm[o, 4] != 0:
                    xi -= x0
                    yi -= y0
            elif code == OP_POLARITY:
                ok = (pi != 0) == (prm[o, 0] != 0)
            elif code == OP_DOWNSAMPLE:  # x // f as (x * ceil(2**32 / f)) >> 32: exact for x, f < 2**16
                xi = (xi * prm[o, 2]) >> 32
                yi = (yi * prm[o, 3]) >> 32
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
