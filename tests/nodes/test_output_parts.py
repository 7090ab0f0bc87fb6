"""The output node's stage pieces as library objects (issue 12: stages usable without the runtime): held-out
decision scoring (`decode.scoring`), the target port's rows and what a calibrating decoder may learn from
them (`decode.teaching`), and the sink fan-out the node publishes through (`nodes._sinks`)."""

import logging

import numpy as np
import pytest

from spikestream.decode.scoring import DecisionScore
from spikestream.decode.teaching import TargetRows, teaching_target
from spikestream.nodes._sinks import build_sinks, close_sinks, mirror_stats, publish_all


def _label(row):
    v = float(np.asarray(row).reshape(-1)[0])
    if v not in (0.0, 1.0, 2.0):
        raise ValueError(f"not a label: {v}")
    return int(v)


def test_decision_score_counts_into_the_callers_counters():
    c = {}
    s = DecisionScore(3, settle_us=2000, label_of=_label)
    # label 1 from t = 1000 (the first label counts from its own packet's end: never settled at once)
    for t, true, decided in [(1000, 1, 1), (2000, 1, 1), (3000, 1, 0), (4000, 2, 2), (5000, 2, 2), (6000, 2, 2)]:
        s.add(c, np.array([true], float), decided, t)
    s.add(c, np.array([7.0]), 1, 7000)  # not a label: counted, not scored
    assert c["eval_decisions"] == 6 and c["eval_correct"] == 5 and c["eval_accuracy"] == 5 / 6
    assert c["confusion.1.1"] == 2 and c["confusion.1.0"] == 1 and c["confusion.2.2"] == 3
    assert c["eval_bad_label"] == 1
    # settled: label 1 held >= 2 ms at t = 3000 (since 1000); label 2 since 3000 (the last packet labelled 1)
    # so at 5000 and 6000
    assert c["eval_settled_decisions"] == 3 and c["eval_settled_correct"] == 2
    summary = s.summary(c)
    assert summary["decisions"] == 6 and summary["correct"] == 5
    assert summary["settled_decisions"] == 3 and summary["settled_accuracy"] == 2 / 3


def test_target_rows_select_columns_and_split_the_phase():
    tr = TargetRows([2, 0], phase=3, cap=8, max_age_us=5000)
    assert tr.channels.tolist() == [2, 0, 3]
    assert tr.add(np.array([0, 1000]), np.array([[0, 0, 0, 0], [7, 8, 9, 1]], np.float32)) is None
    row, phase, bad = tr.aligned(1500)
    assert row.tolist() == [9.0, 7.0] and phase == 1 and not bad
    assert tr.aligned(10_000) == (None, -1, False)  # older than max_age_us
    assert tr.add(np.array([2000]), np.ones((1, 3))) == "target_rejected"  # too narrow: nothing stored
    assert tr.at(2000).tolist() == [9.0, 7.0, 1.0]
    tr.add(np.array([3000]), np.array([[1, 0, 2, 0.5]]))
    assert tr.aligned(3000) == (None, -1, True)  # a phase neither 0 nor 1
    assert tr.add(np.array([500]), np.array([[1, 0, 2, 0]])) == "target_restarts"  # time went back
    assert tr.at(3000).tolist() == [2.0, 1.0, 0.0]


def test_target_rows_without_phase_pass_rows_through():
    tr = TargetRows([], None, cap=4, max_age_us=100)
    tr.add(np.array([10]), np.array([[1.5, 2.5]]))
    row, phase, bad = tr.aligned(50)
    assert row.tolist() == [1.5, 2.5] and phase == -1 and not bad


class _Dec:
    n_outputs = 2


class _Cls:
    n_outputs = 1

    def label_of(self, row):
        return _label(row)


def test_teaching_target_says_why_a_row_teaches_nothing():
    assert teaching_target(_Dec(), None, 0) == (None, "calib_no_target")
    assert teaching_target(_Dec(), np.zeros(3), 0) == (None, "target_rejected")
    any_ = _Dec()
    any_.accepts_any_target = True
    row = np.zeros(3)
    assert teaching_target(any_, row, 0)[0] is row
    assert teaching_target(_Cls(), np.array([5.0]), 3) == (None, "target_rejected")  # unknown label
    good = np.array([2.0])
    assert teaching_target(_Cls(), good, 3) == (good, None)


class _Sink:
    def __init__(self, fail=False):
        self.fail, self.got, self.closed = fail, [], False

    def publish(self, y, t_us, safe, names, origin_ns):
        if self.fail:
            raise OSError("broker gone")
        self.got.append((y.tolist(), t_us, safe, names, origin_ns))

    def stats(self):
        return {"sent": len(self.got), "state": "ok"}

    def close(self):
        self.closed = True
        if self.fail:
            raise OSError("close failed")


def test_fan_out_reaches_every_sink_past_a_failing_one(caplog):
    a, bad, b = _Sink(), _Sink(fail=True), _Sink()
    errors = []
    publish_all([a, bad, b], np.array([1.0, 2.0]), 5, False, ["x", "y"], 9, errors.append)
    assert a.got == b.got == [([1.0, 2.0], 5, False, ["x", "y"], 9)]
    assert errors == ["sink _Sink failed: broker gone"]
    c = {}
    mirror_stats([a, bad, b], c)
    assert c == {"sink0.sent": 1, "sink1.sent": 0, "sink2.sent": 1}  # numbers only
    with caplog.at_level(logging.WARNING):
        close_sinks([a, bad, b], logging.getLogger("t"))
    assert a.closed and bad.closed and b.closed and "close failed" in caplog.text


def test_build_sinks_names_the_bad_table_and_closes_those_built(tmp_path, monkeypatch):
    from spikestream.sinks.files import CsvSink

    closed = []
    real_close = CsvSink.close
    monkeypatch.setattr(CsvSink, "close", lambda self: (closed.append(self), real_close(self)))
    good = {"kind": "csv", "path": str(tmp_path / "a.csv")}
    with pytest.raises(ValueError, match=r"out\.sinks\[1\] needs kind"):
        build_sinks([good, {"path": "b.csv"}], "out.sinks")
    assert len(closed) == 1  # the sink built before the bad table is not left open
    sinks = build_sinks([good], "out.sinks")
    assert [type(s).__name__ for s in sinks] == ["CsvSink"]
    close_sinks(sinks)
