"""The encoder node builds its encoder through one function (issue 12 review: its set-up built a trial
encoder of its own beside the load-time check's `_trial_build`, the same build twice)."""

import numpy as np
import pytest

from spikestream.encode.delta import DeltaEncoder
from spikestream.protocol import Samples
from spikestream.testing import NodeHarness


@pytest.fixture
def built(monkeypatch):
    calls = []
    real = DeltaEncoder.__init__

    def counting(self, *a, **kw):
        calls.append(kw.get("n_channels"))
        real(self, *a, **kw)

    monkeypatch.setattr(DeltaEncoder, "__init__", counting)
    return calls


def test_setup_checks_once_then_builds_the_real_encoder(built):
    h = NodeHarness("encoder", {"encoder": "delta", "channels": 3, "rate_hz": 1000.0, "threshold": 0.2})
    assert built == [3, 3]  # the check's trial (node_params -> _trial_build), then the encoder itself
    assert h.node.enc.n_inputs == 3


def test_an_unsized_node_builds_at_the_first_message_only(built):
    h = NodeHarness("encoder", {"encoder": "delta"})
    assert built == [1] and h.node.enc is None  # the check's one-channel trial
    h.send("in", Samples(np.arange(4, dtype=np.int64) * 1000, np.zeros((4, 2), np.float32), 1000.0))
    assert built == [1, 2] and h.node.enc.n_inputs == 2


def test_a_bad_value_fails_in_setup_through_the_check(built):
    with pytest.raises(ValueError, match="threshold"):
        NodeHarness("encoder", {"encoder": "delta", "threshold": -3})
