"""The SNN node's reward port feeds every reward-gated projection the network has (`SNN.reward_channels`:
a rule declared with an eligibility), not only the ones named "rstdp" — a reward rule added in one file (as a
plugin would) learns from the node's rewards — and a conv layer, which no reward gates, dates a reward
message without failing (it raised AttributeError: 'ConvLayer' object has no attribute 'spec', in warm() too)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from spikestream.protocol import Samples, Spikes
from spikestream.testing import NodeHarness

CONV = {"kind": "conv", "in_channels": 2, "height": 8, "width": 8, "kernel": 3}


def test_a_conv_node_takes_a_reward_message_and_changes_nothing():
    h = NodeHarness("snn", {"topology": dict(CONV)})
    h.send("in", Spikes(0, 10_000, 128, np.array([1, 70], np.uint32), np.array([5, 2000], np.int64)))
    before = h.node.get_state()
    h.send("reward", Samples(np.array([9000], np.int64), np.ones((1, 2), np.float32), 0.0))
    after = h.node.get_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert h.node.snn.reward_channels() == []
    h.send("in", Spikes(10_000, 20_000, 128, np.array([3], np.uint32), np.array([15_000], np.int64)))
    assert len(h.emitted["out"]) == 2


def test_a_conv_node_warms_through_its_reward():
    """warm() feeds its scratch node a reward; for a conv node that raised the same AttributeError, so the
    conv kernels were not loaded before the node reported ready."""
    h = NodeHarness("snn", {"topology": dict(CONV)})
    h.node.warm()
    assert h.node.snn is None  # the real node untouched: still sized by its first packet


def test_rstdp_listens_on_its_channels():
    from spikestream.snn import build_snn

    net = {"dt_us": 1000, "layers": [{"name": "a", "n": 2}, {"name": "b", "n": 2}],
           "connections": [{"pre": "input", "post": "a", "plasticity": {"kind": "rstdp", "reward_channel": 3}},
                           {"pre": "a", "post": "b", "plasticity": {"rule": "rstdp"}},
                           {"pre": "input", "post": "b", "plasticity": {"kind": "stdp_pair"}}]}
    assert build_snn(net, 2).reward_channels() == [0, 3]


SCRIPT = r"""
import json
import numpy as np
import spikestream.nodes
from spikestream.protocol import Message, Samples, Spikes
from spikestream.snn import rule_rstdp, rule_stdp_pair as pair
from spikestream.snn.learning import LearningRule, register
from spikestream.testing import NodeHarness

# a reward-gated rule from one file: rstdp's formula under another name (not named "rstdp")
register(LearningRule("toy_reward", {**pair.PARAMS, "tau_elig_ms": 1000.0, "tau_reward_ms": 200.0, "lr": 1.0,
                                     "reward_channel": 0}, pair.R, rule_rstdp.derive, pair.pre_amp, pair.post_amp,
                      eligibility=True))
out = {}
for kind in ("rstdp", "toy_reward"):
    params = {"dt_us": 1000, "seed": 0, "n_inputs": 2,
              "layers": [{"name": "post", "n": 1, "model": "lif", "t_ref_ms": 3.0, "tau_exc_ms": 0.3}],
              "connections": [
                  {"name": "plastic", "pre": "input", "post": "post", "weight": 0.5,
                   "plasticity": {"kind": kind, "a_plus": 0.1, "a_minus": 0.1, "tau_elig_ms": 500.0, "lr": 0.01,
                                  "reward_channel": 1}},
                  {"name": "drive", "pre": "input", "post": "post", "weight": 2000.0}]}
    for reward in (0.0, 1.0, -1.0):
        node = NodeHarness("snn", params).node
        node.snn.set_weights("plastic", [0.5, 0.0])
        node.snn.set_weights("drive", [0.0, 2000.0])
        node.on_message("in", Message(Spikes(0, 120_000, 2, np.array([0, 1], np.uint32), np.array([100_000, 104_000]))))
        node.on_message("reward", Message(Samples(np.array([150_000]), np.array([[0.0, reward]], np.float32))))
        node.on_message("in", Message(Spikes(120_000, 600_000, 2, np.zeros(0, np.uint32), np.zeros(0, np.int64))))
        out[f"{kind} {reward}"] = float(node.snn.weights("plastic")[0]) - 0.5
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_reward_rule_from_one_file_learns_from_the_nodes_rewards():
    """In a subprocess: the toy rule must not join this process's registry (other tests list the kinds)."""
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    dw = json.loads(r.stdout.strip().splitlines()[-1])
    assert dw["rstdp 0.0"] == 0.0 and dw["rstdp 1.0"] > 0 > dw["rstdp -1.0"]
    for reward in (0.0, 1.0, -1.0):  # the same formula: the same change, to the float
        assert dw[f"toy_reward {reward}"] == dw[f"rstdp {reward}"]
