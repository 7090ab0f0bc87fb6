"""An input node that encodes in-process sends exactly what a separate encoder node would, and keeps
the encoder's state with its own."""

import numpy as np
import pytest

from spikestream.nodes.encoder import EncoderNode
from spikestream.nodes.sources import EMGSynthNode
from spikestream.testing import NodeHarness

ENC = {"encoder": "delta", "threshold": 0.2}
SRC = {"channels": 4, "rate_hz": 1000, "dof": 2, "seed": 3, "chunk": 7, "pace": "fast"}


def run_source(params, polls):
    h = NodeHarness(EMGSynthNode, params, name="emg")
    for k in range(polls):
        h.poll(k)
    return h.node, h.out


def test_inline_encoder_equals_a_separate_encoder_node():
    _, out = run_source({**SRC, "encoder": ENC}, 3)
    samples = [x for x in out if x[0] == "samples"]
    spikes = [x for x in out if x[0] == "spikes"]
    assert len(samples) == len(spikes) > 100
    enc = NodeHarness(EncoderNode, ENC, name="enc")
    for _, body, t, o in samples:  # seq 0, 1, ... of the stream, through the wire format
        enc.send("in", body, stream="emg.samples", t_us=t, origin_ns=o)
    sep = [(e.body, e.t_us, e.origin_ns) for e in enc.out]
    assert len(sep) == len(spikes)
    for (_, a, ta, oa), (b, tb, ob) in zip(spikes, sep):
        assert (a.t0_us, a.t1_us, a.n_neurons, ta, oa) == (b.t0_us, b.t1_us, b.n_neurons, tb, ob)
        assert np.array_equal(a.idx, b.idx) and np.array_equal(a.t_us, b.t_us)
    assert sum(b.idx.size for _, b, _, _ in spikes) > 0


def test_inline_encoder_state_round_trip():
    node, _ = run_source({**SRC, "encoder": ENC}, 2)
    state = node.get_state()
    assert any(k.startswith("encoder/") for k in state)
    _, rest_a = run_source({**SRC, "encoder": ENC}, 4)  # the uninterrupted run
    fresh, out = run_source({**SRC, "encoder": ENC}, 0)
    fresh.set_state(state)
    for k in range(2):
        fresh.poll(k)
    first = [b for p, b, _, _ in rest_a if p == "spikes"]
    second = [b for p, b, _, _ in out if p == "spikes"]
    tail = first[len(first) - len(second):]
    assert len(second) > 0
    for a, b in zip(tail, second):
        assert (a.t0_us, a.t1_us) == (b.t0_us, b.t1_us) and np.array_equal(a.idx, b.idx)


def test_bad_inline_encoder_params_fail_at_setup():
    with pytest.raises(ValueError):
        run_source({**SRC, "encoder": {"encoder": "no_such_encoder"}}, 0)
    with pytest.raises(ValueError, match="table"):
        run_source({**SRC, "encoder": "delta"}, 0)
