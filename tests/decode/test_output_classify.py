"""Classification through the output node (issue 10 item 1), with the LDA decoder in-process: labels pass
the safety stage untouched, the watchdog sends the declared rest class, an optional majority vote, and
held-out accuracy and a confusion matrix, with calibrate = "target" following the labelled source's phase
column (rows of [label, phase]: 1 = calibration set, 0 = evaluation set)."""


import numpy as np
import pytest
import decode_helpers as hp

import spikestream.nodes  # noqa: F401  (registers node kinds)
from spikestream.protocol import Message, Samples, Spikes
from spikestream.safety import SafetyParams, SafetyStage
from spikestream.testing import NodeHarness

N, C, DT = 24, 3, 25_000  # a decision every 25 ms


class Clock:
    def __init__(self):
        self.t = 10**12

    def __call__(self):
        return self.t


def _node(**params):
    # every calibration packet counts here (these tests count them); test_decoders checks pure_windows
    base = {"decoder": {"kind": "lda", "n_inputs": N, "n_classes": C, "window_ms": 100.0, "pure_windows": False},
            "safety": {"timeout_s": 0.3}}
    base.update(params)
    h = NodeHarness("control_output", base, name="out", setup=False)
    clk = Clock()
    h.node.clock_ns = h.node.wall_ns = clk
    h.setup()
    return h.node, h.emitted["out"], clk


def _gestures(T, seed=0, hold=12):
    """Class k drives its own third of the inputs; the class changes every `hold` packets."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.integers(0, C, T // hold + 1), hold)[:T]
    rates = np.full((T, N), 5.0)
    for k in range(C):
        rates[labels == k, k * (N // C):(k + 1) * (N // C)] = 60.0
    return hp.poisson_packets(rates, DT, seed), labels


_jitter = np.random.default_rng(7)


def _feed(n, clk, pk, rows, lo, hi):
    for k in range(lo, hi):
        i, t, t0, t1 = pk[k]
        n.on_message("target", Message(Samples(np.array([t0], np.int64), rows[k:k + 1].astype(np.float32)), "tgt", k, t0))
        clk.t += DT * 1000 + int(_jitter.integers(0, 3_000_000))  # a real loop's tick is never exact
        n.on_message("in", Message(Spikes(t0, t1, N, i.astype(np.uint32), t), "sp", k, t0, origin_ns=clk.t))
        n.poll(clk.t)


def test_labels_pass_untouched_and_the_watchdog_sends_the_rest_class():
    """Today the slew stage turned label 2 into 2.0000000000000004 and the watchdog sent 'neutral' 0.0."""
    n, out, clk = _node(calibrate_s=6.0, safety={"timeout_s": 0.3, "safe_value": 1})
    pk, labels = _gestures(600)
    _feed(n, clk, pk, labels[:, None].astype(float), 0, 600)
    decided = np.array([o.values[0] for o in out])
    assert set(np.unique(decided)) <= {0.0, 1.0, 2.0}  # exact labels, nothing in between
    assert np.array_equal(decided, np.round(decided)) and len(set(decided[300:])) == C
    assert n.safety.params.discrete and n.safety.params.hi == C - 1
    clk.t += int(0.31e9)
    n.poll(clk.t)
    assert out[-1].safe and out[-1].values[0] == 1.0  # the declared rest class


def test_discrete_safety_validates_labels():
    s = SafetyStage(SafetyParams(1, lo=0, hi=4, safe_value=0, discrete=True))
    for u, want in [(2, 2), (2.0000000000000004, 2), (4, 4), (5, 4), (-1, 4), (float("nan"), 4), (0, 0), (3, 3)]:
        assert s.apply([u], 1.0)[0] == want
    assert s.rejected == 4
    for bad in [{"max_rate": 1.0}, {"deadband": 0.5}, {"safe_mode": "slew", "max_rate": 1.0}, {"safe_value": 0.5}]:
        with pytest.raises(ValueError, match="discrete"):
            SafetyParams(1, lo=0, hi=4, discrete=True, **bad)


def test_majority_vote_over_the_last_n_decisions():
    from spikestream.decode.decision import MajorityVote

    v = MajorityVote(5)
    seq = [0, 1, 1, 2, 2, 0, 2, 1, 1, 1]
    got = [v(x) for x in seq]
    # windows (most recent last): [0] [0 1] [0 1 1] [0 1 1 2] [0 1 1 2 2] [1 1 2 2 0] [1 2 2 0 2] ...
    assert got == [0, 1, 1, 1, 2, 2, 2, 2, 1, 1]  # ties: [0 1] -> 1, [0 1 1 2 2] -> 2, [2 0 2 1 1] -> 1
    v.reset()
    assert v(0) == 0


def test_vote_in_the_node_equals_the_majority_of_its_unvoted_decisions():
    pk, labels = _gestures(500, seed=2)
    rows = labels[:, None].astype(float)
    a, out_a, ca = _node(calibrate_s=5.0)
    b, out_b, cb = _node(calibrate_s=5.0, vote=5)
    _feed(a, ca, pk, rows, 0, 500)
    _feed(b, cb, pk, rows, 0, 500)
    raw = [int(o.values[0]) for o in out_a]
    from spikestream.decode.decision import MajorityVote

    ref = MajorityVote(5)
    assert [int(o.values[0]) for o in out_b] == [ref(x) for x in raw]
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="vote"):
            _node(vote=bad)
    with pytest.raises(ValueError, match="vote"):
        _node(decoder={"kind": "linear_rls", "n_inputs": N, "n_outputs": 1}, vote=3)


def test_calibrate_by_target_phase_then_accuracy_and_confusion_on_the_evaluation_rows():
    """Rows [label, phase]: the decoder calibrates exactly on the phase-1 packets and exactly the phase-0
    packets are scored; the counters (the run's report) and the stats command carry the figures."""
    T, T_cal = 900, 400
    pk, labels = _gestures(T, seed=1)
    phase = (np.arange(T) < T_cal).astype(float)
    rows = np.stack([labels, phase], 1)
    n, out, clk = _node(calibrate="target")
    seen = []
    for k in range(T):
        _feed(n, clk, pk, rows, k, k + 1)
        seen.append(n.decoder.calibrating)
    assert seen == list(phase == 1)  # calibrating exactly while phase == 1
    assert n.decoder.n_c.sum() == T_cal and n.decoder.fitted[0]
    cl = n.on_command("stats", {})["classification"]
    assert cl["decisions"] == T - T_cal == n.counters["eval_decisions"]
    m = np.array(cl["confusion"])
    assert m.sum() == T - T_cal and np.array_equal(m.sum(1), np.bincount(labels[T_cal:], minlength=C))
    decided = np.array([o.values[0] for o in out[T_cal:]], int)
    assert cl["correct"] == int(np.sum(decided == labels[T_cal:])) == n.counters["eval_correct"]
    assert cl["accuracy"] == n.counters["eval_accuracy"] > 0.8  # separable classes; window lag at switches
    assert sum(v for k, v in n.counters.items() if k.startswith("confusion.")) == T - T_cal
    assert n.report()["classification"] == cl
    print(f"\nheld-out accuracy {cl['accuracy']:.3f} over {cl['decisions']} decisions; confusion {cl['confusion']}")


def test_an_unknown_label_while_calibrating_costs_no_decision():
    pk, labels = _gestures(60, seed=4)
    rows = labels[:, None].astype(float)
    rows[10:20] = 7  # no such class
    n, out, clk = _node(calibrate_s=5.0)
    _feed(n, clk, pk, rows, 0, 60)
    assert len(out) == 60 and n.counters["target_rejected"] == 10 and "rejected_packets" not in n.counters
    assert n.decoder.n_c.sum() == 50


def test_a_wta_rest_label_outside_the_classes_is_a_valid_discrete_output():
    n, out, clk = _node(decoder={"kind": "wta", "n_inputs": N, "n_classes": C, "rest_label": C, "min_rate_hz": 1e9},
                        calibrate_s=1.0)
    assert (n.safety.params.lo, n.safety.params.hi) == (0, C)
    pk, labels = _gestures(100, seed=5)
    _feed(n, clk, pk, labels[:, None].astype(float), 0, 100)
    assert all(o.values[0] == C for o in out[40:]) and n.safety.rejected == 0  # always "rest": rates never reach 1e9
    cl = n.report()["classification"]
    assert cl["decisions"] == n.counters["eval_decisions"] == cl["decided_other"] > 0 and cl["correct"] == 0


def test_time_calibration_scores_labels_after_calibration_and_bad_phase_is_counted():
    pk, labels = _gestures(400, seed=3)
    n, out, clk = _node(calibrate_s=5.0)  # 200 packets of 25 ms calibrate
    _feed(n, clk, pk, labels[:, None].astype(float), 0, 400)
    assert n.counters["eval_decisions"] == 200
    m, out2, clk2 = _node(calibrate="target")
    rows = np.stack([labels, np.full(400, 0.5)], 1)  # a phase that is neither 0 nor 1
    _feed(m, clk2, pk, rows, 0, 10)
    assert m.counters["target_rejected"] == 10 and "eval_decisions" not in m.counters
    for bad, msg in [({"calibrate": "target", "calibrate_s": 3.0}, "exclude"), ({"calibrate": "phase"}, "calibrate"),
                     ({"phase_channel": 1}, "phase_channel"),
                     ({"calibrate": "target", "target_channels": [1], "phase_channel": 1}, "phase_channel")]:
        with pytest.raises(ValueError, match=msg):
            _node(**bad)


def test_settled_decisions_are_scored_beside_every_decision():
    """eval_settled_* score exactly the decisions whose label has held for the decoder's 100 ms window (the
    first label from its own packet on); those windows hold one gesture, so they are scored at least as well."""
    T, T_cal = 900, 400
    pk, labels = _gestures(T, seed=2, hold=12)
    phase = (np.arange(T) < T_cal).astype(float)
    n, out, clk = _node(calibrate="target")
    for k in range(T):
        _feed(n, clk, pk, np.stack([labels, phase], 1), k, k + 1)
    t1 = np.array([p[3] for p in pk])
    settled, since, prev = [], None, None
    for k in range(T_cal, T):
        if k == T_cal or labels[k] != labels[k - 1]:
            since = t1[k] if prev is None else prev
        prev = t1[k]
        settled.append(t1[k] - since >= 100_000)
    settled = np.array(settled)
    c = n.counters
    assert 0 < settled.sum() < T - T_cal and c["eval_settled_decisions"] == settled.sum()
    decided = np.array([o.values[0] for o in out[T_cal:]], int)
    hits = decided == labels[T_cal:]
    assert c["eval_settled_correct"] == hits[settled].sum()
    assert c["eval_settled_accuracy"] >= c["eval_accuracy"]
    cl = n.report()["classification"]
    assert cl["settled_decisions"] == settled.sum() and cl["settled_accuracy"] == c["eval_settled_accuracy"]
