"""safety.safety_params / check_safety_table: the safety stage's parameters in front of a decoder, without a node."""

import pytest

from spikestream.safety import check_safety_table, safety_params


def test_what_the_table_leaves_out_follows_the_decoder():
    p = safety_params({"timeout_s": 0.2}, 2)
    assert (p.n_outputs, p.discrete, p.timeout_s) == (2, False, 0.2)
    labels = safety_params({}, 1, n_classes=4, rest_label=4)  # a WTA's rest label beyond the classes
    assert (labels.discrete, labels.lo, labels.hi) == (True, 0, 4)
    assert safety_params({"hi": 9}, 1, n_classes=4).hi == 9  # what the table gives stays


def test_a_mismatch_or_an_unknown_key_is_one_located_line():
    with pytest.raises(ValueError, match="out.safety.n_outputs 3 != decoder outputs 2"):
        safety_params({"n_outputs": 3}, 2, where="out.safety")
    with pytest.raises(ValueError, match="unknown parameter 'max_rat'; did you mean 'max_rate'"):
        check_safety_table({"max_rat": 1.0})
    with pytest.raises(ValueError, match="SafetyParams: unknown parameter 'dead'"):
        safety_params({"dead": 1}, 1)
