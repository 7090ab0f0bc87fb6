"""Pair STDP (Song, Miller & Abbott 2000): a pre spike ``w -= a_minus * y1``, a post spike
``w += a_plus * x1``; ``bound = "soft"`` is the multiplicative rule (van Rossum et al. 2000): potentiation
scaled by (w_max - w), depression by (w - w_min). A single pair with t_post - t_pre = d changes w by
``a_plus exp(-d / tau_plus)`` (d >= 0) or ``-a_minus exp(d / tau_minus)`` (d < 0), on the step grid."""

from numba import njit

from spikestream.snn.learning import LearningRule, register, rule_slots, stdp_common

R = rule_slots("a_plus", "a_minus")
PARAMS = {"a_plus": 0.01, "a_minus": 0.0105, "tau_plus_ms": 20.0, "tau_minus_ms": 20.0, "w_min": 0.0,
          "w_max": 1.0, "bound": "hard", "interaction": "all"}


def derive(p, dt_ms, name="stdp_pair"):
    return {"a_plus": p["a_plus"], "a_minus": p["a_minus"], **stdp_common(p, dt_ms, name)}


@njit(cache=True)
def pre_amp(pp, p, x2):
    return pp[p, R.a_minus]


@njit(cache=True)
def post_amp(pp, p, y2):
    return pp[p, R.a_plus]


register(LearningRule("stdp_pair", dict(PARAMS), R, derive, pre_amp, post_amp,
                      reference="Song, Miller & Abbott 2000; van Rossum et al. 2000"))
