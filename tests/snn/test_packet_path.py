"""The per-packet path around the step loop (spikestream/snn/_packet.py) gives exactly what the numpy code it
replaced gave: the same output spikes, the same state, the same errors and late counts, packet by packet.

`_ReferenceSNN.advance` is that numpy code, verbatim (before 2026-12-07); it drives the same step loop."""

import numpy as np
import pytest
from snn_reference import ring_spikes

from spikestream import protocol as P
from spikestream.nodes.snn import SNNNode
from spikestream.snn import build_snn
from spikestream.snn import _packet
from spikestream.snn.align import RingAlign
from spikestream.snn.network import SNN
from spikestream.snn.spec import INPUT, parse

#: The learning pipeline of deploy/myo_replay.toml (24 inputs: 8 electrodes x UP, DOWN, AMP), smaller.
MYO = {"dt_us": 5000, "seed": 1, "outputs": ["input", "hidden"],
       "layers": [{"name": "hidden", "n": 16, "model": "lif", "theta_plus": 0.05, "tau_theta_ms": 20000.0}],
       "connections": [{"pre": "input", "post": "hidden", "rule": "all_to_all",
                        "weight": {"init": "uniform", "low": 0.0, "high": 1.0}, "synapse": "exp_current",
                        "plasticity": {"rule": "stdp_pair", "a_plus": 0.002, "a_minus": 0.0016, "w_max": 2.0,
                                       "bound": "soft"},
                        "normalize": {"target": 8.0, "every_ms": 100}}]}
#: Delays and a recurrent layer, outputs without the input: pending spikes and in-flight ones.
DELAYED = {"dt_us": 1000, "seed": 2, "outputs": ["hidden"],
           "layers": [{"name": "hidden", "n": 12, "model": "lif"}],
           "connections": [{"pre": "input", "post": "hidden", "rule": "all_to_all", "weight": 3.0, "delay_ms": 2.0,
                            "plasticity": {"rule": "stdp_triplet"}},
                           {"pre": "hidden", "post": "hidden", "rule": "fixed_prob", "p": 0.3, "weight": 0.5,
                            "delay_ms": 1.0}]}


class _ReferenceSNN(SNN):
    def advance(self, in_idx, in_t_us, until_us, max_steps=None):
        if max_steps is not None:
            n_steps = int(until_us) // self.dt_us - (self._step or 0)
            if n_steps > max_steps:
                raise ValueError("too many steps")
        idx = np.asarray(in_idx)
        t = np.asarray(in_t_us)
        if idx.size:
            if idx.min() < 0 or idx.max() >= self.n_inputs:
                raise ValueError(f"input index out of range [0, {self.n_inputs})")
            if t.size > 1 and np.any(np.diff(t.astype(np.int64)) < 0):
                raise ValueError("input spike times are not sorted")
        idx = idx.astype(np.int64, copy=False)
        t = t.astype(np.int64, copy=False)
        until_us = int(until_us)
        dt = self.dt_us
        if self._step is None:
            self._step = 0
        if t.size and t[0] < self._step * dt:
            late = t < self._step * dt
            self.late_spikes += int(late.sum())
            idx, t = idx[~late], t[~late]
        if self._pend_t.size:
            idx = np.concatenate([self._pend_idx, idx])
            t = np.concatenate([self._pend_t, t])
            if np.any(np.diff(t) < 0):
                o = np.argsort(t, kind="stable")
                idx, t = idx[o], t[o]
        n_end = until_us // dt
        steps = t // dt
        n_now = int(np.searchsorted(steps, n_end, side="left"))
        self._pend_idx, self._pend_t = idx[n_now:].copy(), t[n_now:].copy()
        in_step, in_idx_ = steps[:n_now], idx[:n_now]
        n_steps = max(0, n_end - self._step)
        out_i, out_t = self._run(n_steps, in_step, in_idx_)
        if self.spec.outputs[0] == INPUT and in_idx_.size:
            t = np.concatenate([in_step * dt, out_t])
            o = np.argsort(t, kind="stable")
            out_i, out_t = np.concatenate([in_idx_, out_i])[o], t[o]
        return out_i, out_t


def _both(params, n):
    return build_snn(params, n), _ReferenceSNN(parse(params, n))


def _same_state(a, b):
    sa, sb = a.get_state(), b.get_state()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and np.array_equal(sa[k], sb[k]), k
    assert a.late_spikes == b.late_spikes


def _packets(idx, t, edges):
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (t >= lo) & (t < hi)
        yield idx[m], t[m], hi


@pytest.mark.parametrize("params,n", [(MYO, 24), (DELAYED, 16)])
def test_same_output_and_state_as_the_numpy_path(params, n):
    """Packets on and off the dt grid (spikes left pending), late spikes, an empty packet, a time jump back
    (pending spikes then sort behind the new ones)."""
    rng = np.random.default_rng(5)
    idx, t = ring_spikes(6, 0, seed=3, ring=8, per=n // 8)
    edges = np.unique(np.concatenate([[0], np.cumsum(rng.integers(1_000, 40_000, 400))]))
    edges = edges[edges <= t[-1] + 1]
    new, ref = _both(params, n)
    n_out = 0
    for k, (i, s, hi) in enumerate(_packets(idx, t, edges)):
        if k % 17 == 5:  # a spike from before the packet, maybe before the network's time: late
            i, s = np.concatenate([[1], i]), np.concatenate([[max(0, int(edges[k]) - 3_000)], s])
        if k % 23 == 7:
            i, s = i[:0], s[:0]
        a = new.advance(i.astype(np.uint32), s, hi)
        b = ref.advance(i.astype(np.uint32), s, hi)
        assert a[0].dtype == b[0].dtype == np.int64 and a[1].dtype == b[1].dtype == np.int64
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), k
        n_out += a[0].size
        if k == 200:  # spikes pending far ahead (as after a source restarted its clock): the next packets'
            for net in (new, ref):  # spikes sort in before them
                net._pend_idx = np.array([0, 1, 2], np.int64)
                net._pend_t = np.array([5_000_000, 5_000_000, 5_600_000], np.int64)
    _same_state(new, ref)
    assert n_out > 1000 and new.late_spikes > 0


def test_pending_spikes_merge_stably_with_new_ones():
    for params, n in ((MYO, 24), (DELAYED, 16)):
        new, ref = _both(params, n)
        for net in (new, ref):
            net.start(1_000_000)
            net._pend_idx = np.array([3, 4, 5, 6], np.int64)
            net._pend_t = np.array([1_004_000, 1_004_000, 1_010_000, 1_030_000], np.int64)
        i = np.array([7, 8, 9, 10, 11], np.int64)
        s = np.array([1_000_000, 1_004_000, 1_004_000, 1_020_000, 1_030_000], np.int64)
        a, b = new.advance(i, s, 1_025_000), ref.advance(i, s, 1_025_000)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        _same_state(new, ref)


def test_same_errors_and_nothing_changed():
    new, ref = _both(MYO, 24)
    new.advance(np.array([1]), np.array([100]), 10_000)
    ref.advance(np.array([1]), np.array([100]), 10_000)
    for i, s, msg in ((np.array([1, 24]), np.array([10_000, 10_001]), "out of range"),
                      (np.array([-1, 2]), np.array([10_000, 10_001]), "out of range"),
                      (np.array([2**63 + 5, 2], np.uint64), np.array([10_000, 10_001]), "out of range"),
                      (np.array([1, 2]), np.array([10_005, 10_001]), "not sorted"),
                      (np.array([1, 99]), np.array([10_005, 10_001]), "out of range")):  # range first
        for net in (new, ref):
            with pytest.raises(ValueError, match=msg):
                net.advance(i, s, 20_000)
    _same_state(new, ref)
    with pytest.raises(ValueError, match="integer"):
        new.advance(np.array([1.0]), np.array([10_000]), 20_000)


def test_merge_inputs_is_a_stable_merge():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a_step = np.sort(rng.integers(0, 20, rng.integers(0, 30)))
        b_t = np.sort(rng.integers(0, 20, rng.integers(0, 30))) * 1000
        a_idx, b_idx = rng.integers(0, 50, a_step.size), rng.integers(50, 99, b_t.size)
        t = np.concatenate([a_step * 1000, b_t])
        o = np.argsort(t, kind="stable")
        got = _packet.merge_inputs(a_idx, a_step, 1000, b_idx, b_t)
        assert np.array_equal(got[0], np.concatenate([a_idx, b_idx])[o]) and np.array_equal(got[1], t[o])


def test_the_node_emits_what_the_numpy_path_gives():
    """The SNN node as the Myo replay runs it (alignment in front, wire format in and out) against the
    reference network fed by its own alignment."""
    params = {**MYO, "n_inputs": 24, "align": {"ring": 8, "per_channel": 3, "learn_s": 2.0, "codebook": 8,
                                                "min_evidence_s": 1.0}}
    frames = []
    node = SNNNode("snn", params, emit=lambda port, body, t_us, origin_ns: frames.append(
        P.pack(P.Message(body, "snn.out", len(frames), t_us, origin_ns))))
    node.setup()
    al = RingAlign(n_inputs=24, **params["align"])
    ref = _ReferenceSNN(parse(MYO, 24))
    idx, t = ring_spikes(8, 1, seed=4, ring=8, per=3)
    for k, (i, s, hi) in enumerate(_packets(idx, t, np.arange(0, 8_000_001, 25_000))):
        body = P.Spikes(hi - 25_000, hi, 24, i.astype(np.uint32), s)
        node.on_message("in", P.unpack(P.pack(P.Message(body, "emg.spikes", k, hi, 0)), kinds=("spikes",)))
        if ref.time_us is None:
            ref.start(hi - 25_000)
        t_before = ref.time_us
        oi, ot = ref.advance(al.map(i, s, hi), s, hi)
        got = P.unpack(frames[k]).body
        assert (got.t0_us, got.t1_us) == (t_before, ref.time_us)
        assert np.array_equal(got.idx, oi.astype(np.uint32)) and np.array_equal(got.t_us, ot), k
    assert len(frames) == 320 and node.align.shift == al.shift
    _same_state(node.snn, ref)


def test_read_only_wire_arrays_use_the_kernel_warmup_compiles():
    """The wire's arrays are read-only; the alignment copies them rather than have Numba compile a second
    kernel for read-only arrays at the first packet (warmup compiles the writable one)."""
    from numba import types

    from spikestream.snn import align as A

    idx, t = ring_spikes(3, 0, seed=1, ring=8, per=3)
    body = P.unpack(P.pack(P.Message(P.Spikes(0, 3_000_000, 24, idx.astype(np.uint32), t)))).body
    assert not body.t_us.flags.writeable
    kw = {"ring": 8, "per_channel": 3, "learn_s": 1.0, "codebook": 4, "min_evidence_s": 0.5}
    a, b = RingAlign(n_inputs=24, **kw), RingAlign(n_inputs=24, **kw)
    assert np.array_equal(a.map(body.idx, body.t_us, 3_000_000), b.map(idx.copy(), t.copy(), 3_000_000))
    arrays = [arg for sig in A._map_spikes.signatures for arg in sig if isinstance(arg, types.Array)]
    assert arrays and all(arg.mutable for arg in arrays)
