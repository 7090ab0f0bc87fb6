"""A learning rule added in this one file (as a plugin would): importing it declares and registers
``toy_hebb``; no other file is edited. tests/snn/test_add_rule.py runs it in a network.

    pre spike: no change          post spike: w += eta * x1       (x1: the pre trace, decay tau_ms)

Its hooks read one named slot of its own (`eta`); the pre trace's decay is a generic slot (`dx1`).
"""

from numba import njit

from spikestream.snn.learning import LearningRule, decay, register, rule_slots

R = rule_slots("eta")


def _derive(p, dt_ms):
    if p["eta"] <= 0:
        raise ValueError("toy_hebb: eta must be > 0")
    return {"eta": p["eta"], "w_min": p["w_min"], "w_max": p["w_max"], "dx1": decay(p["tau_ms"], dt_ms, "tau_ms")}


@njit(cache=True)
def pre_amp(pp, p, x2):
    return 0.0


@njit(cache=True)
def post_amp(pp, p, y2):
    return pp[p, R.eta]


register(LearningRule("toy_hebb", {"eta": 0.01, "tau_ms": 20.0, "w_min": 0.0, "w_max": 10.0}, R, _derive,
                      pre_amp, post_amp))
