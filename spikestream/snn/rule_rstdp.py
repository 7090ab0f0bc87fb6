"""Reward-modulated STDP with eligibility traces (Izhikevich 2007; Fremaux & Gerstner 2016): the pair-STDP
change (`rule_stdp_pair`'s amplitudes) goes into an eligibility per synapse (decay tau_elig_ms); each step
``w += lr * dt_ms * d * elig``, where the dopamine d (decay tau_reward_ms) jumps by each reward value
arriving on `reward_channel`."""

from spikestream.snn import rule_stdp_pair as pair
from spikestream.snn.learning import LearningRule, decay, register


def derive(p, dt_ms):
    ch = p["reward_channel"]
    if ch < 0 or int(ch) != ch:
        raise ValueError("rstdp: reward_channel must be a non-negative integer")
    return {**pair.derive(p, dt_ms, "rstdp"), "d_elig": decay(p["tau_elig_ms"], dt_ms, "tau_elig_ms"),
            "d_reward": decay(p["tau_reward_ms"], dt_ms, "tau_reward_ms"), "lr": p["lr"] * dt_ms,
            "reward_channel": ch}


register(LearningRule("rstdp", {**pair.PARAMS, "tau_elig_ms": 1000.0, "tau_reward_ms": 200.0, "lr": 1.0,
                                "reward_channel": 0},
                      pair.R, derive, pair.pre_amp, pair.post_amp, eligibility=True,
                      reference="Izhikevich 2007; Fremaux & Gerstner 2016"))
