"""Checking a saved SNN state before any of it is written (split out of network.py): `SNN.set_state` calls
`checked_state`, and a refused state raises ValueError and leaves the network exactly as it was."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spikestream.arraycheck import increasing
from spikestream.snn.build import State
from spikestream.snn.learning import PC, R_NONE
from spikestream.snn.neuron import C_REF

#: The state's keys besides the core arrays (`build.State`).
EXTRA = ("step", "pend_idx", "pend_t", "rw_step", "rw_ch", "rw_val", "learning", "signature")


def checked_state(snn, d) -> tuple[dict[str, np.ndarray], int, tuple, tuple, bool]:
    """`snn.set_state`'s check of a saved state, before anything is written: keys, signature, shapes,
    dtypes, finiteness and ranges (every index against its bound). Returns (core arrays by name, clock step,
    pending inputs, pending rewards, learning); raises ValueError for anything else."""
    if not isinstance(d, Mapping):
        raise ValueError(f"SNN state must be a mapping of arrays, got {type(d).__name__}")
    want = set(State._fields) | set(EXTRA)
    if "rho" not in d and not np.any((snn._net.proj_rule != R_NONE) & (snn._net.proj_pp[:, PC.rate] != 0)):
        # a state saved before stdp_bcm existed: no rule reads the running rates, so keep the network's
        d = {**d, "rho": snn._st.rho}
    missing, extra = want - set(d), set(d) - want
    if missing or extra:
        raise ValueError(f"SNN state: missing {sorted(missing)}, unexpected {sorted(extra)}")
    a = {k: _numeric(k, d[k]) for k in want}
    sig = a["signature"]
    if sig.dtype.kind not in "iu" or sig.shape != snn._signature().shape or not np.array_equal(sig, snn._signature()):
        raise ValueError("SNN state is from a network of another shape (layers, sizes, synapse count, "
                         "delays or learning rules differ); refusing to load it")
    new = {}
    for k in State._fields:
        cur = getattr(snn._st, k)
        v = a[k]
        if v.shape != cur.shape:
            raise ValueError(f"SNN state: {k!r} has shape {v.shape}, this network needs {cur.shape}")
        if cur.dtype.kind == "f":
            if v.dtype.kind != "f":
                raise ValueError(f"SNN state: {k!r} has dtype {v.dtype}, needs floating point")
            if not np.isfinite(v).all():
                raise ValueError(f"SNN state: {k!r} holds NaN or inf")
        else:
            info = np.iinfo(cur.dtype)
            _int_range(k, v, info.min, info.max)
        new[k] = v.astype(cur.dtype)
    n_in = snn.n_inputs
    ref = np.zeros(snn._net.n_neurons, np.int64)
    for lo, hi, pc in zip(snn._net.layer_lo, snn._net.layer_hi, snn._net.layer_pc):
        ref[lo:hi] = int(pc[C_REF])
    # one step more is accepted, and cut to the period: a checkpoint written before refractory periods were
    # counted as Brian2 does (round(t_ref/dt), now floor(t_ref/dt + 1e-3)) must not be refused on upgrade
    if np.any(new["refr"] < 0) or np.any(new["refr"] > ref + 1):
        raise ValueError("SNN state: 'refr' outside [0, the layer's refractory steps]")
    new["refr"] = np.minimum(new["refr"], ref).astype(new["refr"].dtype)
    for k in ("flag", "ring_used"):
        _int_range(k, new[k], 0, 1)
    _int_range("count", new["count"], 0, None)
    if np.any(new["rho"] < 0):
        raise ValueError("SNN state: negative running rates in 'rho' (stdp_bcm)")
    if np.any(new["w"] < 0):
        raise ValueError("SNN state: negative weights in 'w' (weights are magnitudes)")
    if new["ibias"].size and np.abs(new["ibias"]).max() > snn.max_bias:
        raise ValueError(f"SNN state: |ibias| above max_bias = {snn.max_bias:g}")
    step = _scalar("step", a["step"], "iu")
    if not (step == -1 or 0 <= step <= _T_MAX // snn.dt_us):
        raise ValueError(f"SNN state: clock 'step' = {step} out of range")
    pi, pt = a["pend_idx"], a["pend_t"]
    if pi.ndim != 1 or pi.shape != pt.shape:
        raise ValueError("SNN state: pending input arrays must be 1-d of equal length")
    _int_range("pend_idx", pi, 0, n_in - 1)
    _int_range("pend_t", pt, -_T_MAX, _T_MAX)
    if pt.size > 1 and not increasing(pt.astype(np.int64), strict=False):
        raise ValueError("SNN state: pending input times are not sorted")
    rs, rc, rv = a["rw_step"], a["rw_ch"], a["rw_val"]
    if rs.ndim != 1 or not (rs.shape == rc.shape == rv.shape):
        raise ValueError("SNN state: pending reward arrays must be 1-d of equal length")
    _int_range("rw_step", rs, -_T_MAX, _T_MAX)
    _int_range("rw_ch", rc, 0, _T_MAX)
    if rv.dtype.kind != "f" or not np.isfinite(rv).all():
        raise ValueError("SNN state: pending reward values must be finite floats")
    if rs.size > 1 and not increasing(rs.astype(np.int64), strict=False):
        raise ValueError("SNN state: pending reward steps are not sorted")
    learning = _scalar("learning", a["learning"], "biu")
    if learning not in (0, 1):
        raise ValueError(f"SNN state: 'learning' must be 0 or 1, got {learning}")
    pend = (pi.astype(np.int64), pt.astype(np.int64))
    rw = (rs.astype(np.int64), rc.astype(np.int64), rv.astype(np.float64))
    return new, step, pend, rw, bool(learning)


#: Largest |time| in us a saved state may hold (keeps step * dt and spike times inside int64).
_T_MAX = 1 << 62


def _numeric(k: str, v) -> np.ndarray:
    """A saved value as a numeric numpy array (copied: the caller's arrays are never kept)."""
    try:
        arr = np.array(v, copy=True)
    except Exception as e:  # whatever a crafted object raises
        raise ValueError(f"SNN state: {k!r} is not an array ({type(e).__name__}: {e})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"SNN state: {k!r} has dtype {arr.dtype}, not numeric")
    return arr


def _int_range(k: str, v: np.ndarray, lo: int | None, hi: int | None) -> None:
    """An integer (or bool) array whose values lie within [lo, hi] (None: unbounded)."""
    if v.dtype.kind not in "biu":
        raise ValueError(f"SNN state: {k!r} has dtype {v.dtype}, needs integers")
    if v.size:
        mn, mx = int(v.min()), int(v.max())
        if (lo is not None and mn < lo) or (hi is not None and mx > hi):
            raise ValueError(f"SNN state: {k!r} has values in [{mn}, {mx}], outside [{lo}, {hi}]")


def _scalar(k: str, v: np.ndarray, kinds: str) -> int:
    if v.size != 1 or v.dtype.kind not in kinds:
        raise ValueError(f"SNN state: {k!r} must be one value of kind {kinds!r}, got {v.dtype} {v.shape}")
    return int(v.reshape(-1)[0])
