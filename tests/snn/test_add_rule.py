"""Adding a learning rule is one file: named parameters and slots, hooks, a code from its name and a
generated dispatch (tests/snn/toy_learning_rule.py).

The end-to-end case runs in a subprocess so that the toy rule does not join this process's registry (the
kinds listings other tests check)."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from snn_helpers import HERE, run_script

from spikestream.snn import learning
from spikestream.snn.learning import N_PC, LearningRule, rule_slots

SCRIPT = r"""
import json, numpy as np
from spikestream.registry import LEARNING_RULES
from spikestream.snn import build_snn
from snn_helpers import drive, pair_net  # the network of tests/snn/test_learning.py

pre, post = [100, 300, 305, 500], [110, 290, 320, 520]
before = pair_net({"rule": "stdp_pair"}, 1.0, "sparse")  # the loop is compiled before the rule exists
drive(before, pre, post, 600)
w_pair = float(before.weights("plastic")[0])
import toy_learning_rule  # the one file: declares and registers "toy_hebb"
res = {"code": LEARNING_RULES.get("toy_hebb").code, "pair_code": LEARNING_RULES.get("stdp_pair").code}
for storage in ("sparse", "dense"):
    snn = pair_net({"kind": "toy_hebb", "eta": 0.05, "tau_ms": 20.0}, 1.0, storage)
    res[storage] = {"post": drive(snn, pre, post, 600), "w": float(snn.weights("plastic")[0])}
again = pair_net({"rule": "stdp_pair"}, 1.0, "sparse")
drive(again, pre, post, 600)
res["pair_same"] = float(again.weights("plastic")[0]) == w_pair
try:
    build_snn({"dt_us": 1000, "layers": [{"name": "a", "n": 1}], "connections": [
        {"pre": "input", "post": "a", "plasticity": {"kind": "toy_hebb", "eta": -1.0}}]}, 1)
    res["err"] = None
except ValueError as e:
    res["err"] = str(e)
print(json.dumps(res))
"""


@pytest.mark.slow  # a new set of rules compiles the step loop once (~30 s cold; cached afterwards)
def test_a_rule_from_one_file_learns_in_a_network():
    res = run_script(SCRIPT)
    pre, post = [100, 300, 305, 500], [110, 290, 320, 520]
    # post spike at t: w += eta * x1(t), x1 = sum over pre spikes at or before t of exp(-(t - t_pre) / tau)
    expect = 1.0 + 0.05 * sum(math.exp(-(t - s) / 20.0) for t in post for s in pre if s <= t)
    for storage in ("sparse", "dense"):
        assert res[storage]["post"] == post
        assert res[storage]["w"] == pytest.approx(expect, rel=1e-12)
    assert res["code"] not in range(0, 16) and res["pair_code"] == 1
    assert res["pair_same"]  # a network of a built-in rule learns the same in the regenerated loop
    assert "toy_hebb: eta must be > 0" in res["err"]


def test_rule_slots_follow_the_generic_ones():
    R = rule_slots("a", "b")
    assert (R.a, R.b) == (N_PC, N_PC + 1) and R._fields == ("a", "b")
    with pytest.raises(ValueError):
        rule_slots("a", "a")


def test_builtin_rule_codes_are_frozen():
    """A saved state's signature lists the projections' rule codes: the built-in ones never change."""
    assert {r.name: c for c, r in learning.RULES.items() if c < 16} == {
        "stdp_pair": 1, "stdp_triplet": 2, "rstdp": 3, "stdp_bcm": 4}


def test_a_rule_needs_jitted_hooks_and_bounds():
    R = rule_slots("eta")
    with pytest.raises(ValueError, match="@njit"):
        LearningRule("toy_bad", {"w_min": 0.0, "w_max": 1.0}, R, lambda p, dt: {}, lambda pp, p, x: 0.0,
                     lambda pp, p, y: 0.0)
    assert "toy_bad" not in {r.name for r in learning.RULES.values()}
    np.testing.assert_array_equal(learning.build_rule({"kind": "stdp_pair"}, 1.0)[1][learning.PC.elig], 0.0)


def test_the_hook_dispatch_is_generated_from_the_declared_rules():
    from spikestream.snn import _dispatch, kernel, neuron

    rules = {c: (r.pre_amp, r.post_amp, r.rate_amp) for c, r in learning.RULES.items()}
    src = _dispatch.source(kernel.step_loop, neuron.STEPS, rules)
    for c, r in learning.RULES.items():
        assert f"code == {c}:\n        return pre_amp_{c}(pp, p, x2)" in src
        assert f"code == {c}:\n        return post_amp_{c}(pp, p, y2)" in src
    assert "code == 4:\n        return rate_amp_4(pp, p, amp, rate)" in src  # stdp_bcm only
    assert "def post_spikes(" in src and "def step_loop(" in src


def test_rule_kernels_read_named_slots_only():
    """No rule hook or plasticity kernel reads a `pp` slot by number (`pp[p, 3]`), nor tests a rule code."""
    snn = Path(learning.__file__).resolve().parent
    for f in sorted(snn.glob("rule_*.py")) + [snn / "plasticity.py", HERE / "toy_learning_rule.py"]:
        text = f.read_text()
        assert not re.findall(r"\bpp\[\s*\w+\s*,\s*\d", text), f.name
        assert not re.findall(r"\bR_(?!NONE)[A-Z]+", text), f.name
