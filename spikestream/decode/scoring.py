"""Held-out scoring of class decisions against their aligned labels, as the output node reports it.

Each scored decision counts in ``eval_decisions`` / ``eval_correct`` / ``eval_accuracy`` and in
``confusion.<true>.<decided>``; the ``eval_settled_*`` figures score only the decisions whose label has held
for ``settle_us`` (the decoder's window: a window that holds one gesture, as offline protocols score). The
figures go into a counters mapping the caller owns (a node's counters, or a plain dict in a notebook), so
they are in a run's report beside everything else.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from spikestream.decode.decision import Confusion, LabelHold


class DecisionScore:
    """Scores decisions of `n_classes` classes; `label_of(row)` reads the true label from a target row
    (ValueError: not a label, counted as ``eval_bad_label`` and not scored)."""

    def __init__(self, n_classes: int, settle_us: float, label_of: Callable[[np.ndarray], int]):
        self.confusion = Confusion(n_classes)
        self.settle_us = float(settle_us)
        self._hold = LabelHold()
        self._label_of = label_of

    def add(self, counters: dict[str, Any], row: np.ndarray, decided: int, t_us: int) -> None:
        """Score one decision (ending at `t_us`) against the label in `row`, into `counters`."""
        try:
            true = self._label_of(row)
        except ValueError:
            _bump(counters, "eval_bad_label")
            return
        self.confusion.add(true, decided)
        _bump(counters, "eval_decisions")
        _bump(counters, f"confusion.{true}.{decided}")
        if true == decided:
            _bump(counters, "eval_correct")
        counters["eval_accuracy"] = counters.get("eval_correct", 0) / counters["eval_decisions"]
        if self._hold.update(true, t_us) >= self.settle_us:
            _bump(counters, "eval_settled_decisions")
            if true == decided:
                _bump(counters, "eval_settled_correct")
            counters["eval_settled_accuracy"] = (counters.get("eval_settled_correct", 0)
                                                 / counters["eval_settled_decisions"])

    def summary(self, counters: dict[str, Any]) -> dict[str, Any]:
        """The confusion matrix's figures and the settled ones (from `counters`)."""
        return {**self.confusion.summary(), "settled_decisions": counters.get("eval_settled_decisions", 0),
                "settled_accuracy": counters.get("eval_settled_accuracy")}


def _bump(counters: dict[str, Any], key: str) -> None:
    counters[key] = counters.get(key, 0) + 1
