"""The per-packet work around the step loop, one jitted call each (`SNN.advance`).

A stream node advances its network once per inbound packet (the Myo replay: 25 ms, about 380 input spikes,
40 packets a second of source time). Done in numpy, checking the spikes, dropping late ones, joining the
ones left pending, splitting off the complete steps and merging the input spikes into the output took some
15 array calls a packet, each with numpy's fixed cost; here they are two loops over the spikes. The results
are the numpy version's exactly (tests/snn/test_packet_path.py compares them on random and edge cases).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: `prepare`'s error codes.
OK, OUT_OF_RANGE, UNSORTED = 0, 1, 2


@njit(cache=True)
def prepare(idx, t, pend_idx, pend_t, t_now, n_end, dt, n_inputs):
    """New input spikes ``idx``/``t`` (int64; checked here) for a network whose next step starts at
    ``t_now`` and which will simulate the steps before step ``n_end`` (of ``dt`` us each).

    Returns (error, late, in_step, in_idx, pend_idx, pend_t): ``error`` is `OUT_OF_RANGE` (an index outside
    [0, n_inputs)) or `UNSORTED` (times decrease), checked in that order, and then nothing else is valid;
    ``late`` is how many spikes lie before ``t_now`` (dropped). The spikes left, joined to the pending ones
    (pending first at equal times: a stable sort of pending + new), are split into those of the complete
    steps (``in_step`` = their step, ``in_idx``) and the new pending ones (copies)."""
    m = idx.size
    for i in range(m):
        if idx[i] < 0 or idx[i] >= n_inputs:
            return OUT_OF_RANGE, 0, np.empty(0, np.int64), np.empty(0, np.int64), pend_idx, pend_t
    for i in range(1, m):
        if t[i] < t[i - 1]:
            return UNSORTED, 0, np.empty(0, np.int64), np.empty(0, np.int64), pend_idx, pend_t
    late = 0
    while late < m and t[late] < t_now:  # sorted: the late ones are a prefix
        late += 1
    p = pend_t.size
    n = p + m - late
    all_idx = np.empty(n, np.int64)
    all_t = np.empty(n, np.int64)
    all_idx[:p] = pend_idx
    all_t[:p] = pend_t
    all_idx[p:] = idx[late:]
    all_t[p:] = t[late:]
    if p:
        ordered = True
        for i in range(1, n):
            if all_t[i] < all_t[i - 1]:
                ordered = False
                break
        if not ordered:
            o = np.argsort(all_t, kind="mergesort")  # stable
            all_idx, all_t = all_idx[o], all_t[o]
    steps = np.empty(n, np.int64)
    n_now = 0
    while n_now < n:  # sorted: the complete steps' spikes are a prefix
        s = all_t[n_now] // dt
        if s >= n_end:
            break
        steps[n_now] = s
        n_now += 1
    return OK, late, steps[:n_now], all_idx[:n_now], all_idx[n_now:].copy(), all_t[n_now:].copy()


@njit(cache=True)
def merge_inputs(a_idx, a_step, dt, b_idx, b_t):
    """The input spikes (``a_idx`` at steps ``a_step``, stamped ``a_step * dt``) and the output spikes
    (``b_idx`` at ``b_t``), both time-sorted, as one time-sorted list, the input first at equal times."""
    na, nb = a_idx.size, b_idx.size
    idx = np.empty(na + nb, np.int64)
    t = np.empty(na + nb, np.int64)
    i = j = 0
    for k in range(na + nb):
        if j >= nb or (i < na and a_step[i] * dt <= b_t[j]):
            idx[k] = a_idx[i]
            t[k] = a_step[i] * dt
            i += 1
        else:
            idx[k] = b_idx[j]
            t[k] = b_t[j]
            j += 1
    return idx, t
