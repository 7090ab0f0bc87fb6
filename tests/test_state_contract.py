"""One state contract for every registered stateful stage (encoders, conditioning stages, decoders, event
filters; the SNN and the safety stage have their own tests): `get_state` returns copies (changing them changes
nothing), `set_state` of a state taken mid-stream continues the stream exactly, and a state with one bad entry
is refused as a whole, before anything is written (the stage is left as it was)."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.registry import CONDITIONERS, DECODERS, ENCODERS, EVENT_FILTERS

C, N_IN, RATE = 4, 6, 1000.0
CLASSIFIERS = {"lda", "wta"}


def _samples(k: int, n: int = 150):
    rng = np.random.default_rng(k)
    t = (k * n + np.arange(n, dtype=np.int64)) * 1000
    x = np.cumsum(rng.standard_normal((n, C)), axis=0).astype(np.float32) * 0.2
    return x, t


def _spikes(k: int, n_packets: int = 40):
    rng = np.random.default_rng(100 + k)
    out = []
    for j in range(n_packets):
        t0 = (k * n_packets + j) * 10_000
        m = int(rng.integers(0, 12))
        t = np.sort(rng.integers(t0, t0 + 10_000, m)).astype(np.int64)
        out.append((rng.integers(0, N_IN, m).astype(np.int64), t, t0 + 10_000))
    return out


def _events(k: int, n: int = 2000):
    rng = np.random.default_rng(200 + k)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, 32, n), rng.integers(0, 24, n)
    ev["t"] = k * 100_000 + np.sort(rng.integers(0, 100_000, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


class Stage:
    """Build one stage kind and feed it part `k` of a deterministic stream; `run` returns what it produced."""

    def __init__(self, family: str, kind: str):
        self.family, self.kind = family, kind

    def build(self):
        f, k = self.family, self.kind
        if f == "encoder":
            return ENCODERS.create(k, n_channels=C, **({"rate_hz": RATE} if k in ("cochlea", "population", "rate") else {}))
        if f == "conditioner":
            return CONDITIONERS.create(k, n_channels=C, rate_hz=RATE)
        if f == "decoder":
            size = {"n_classes": 3} if k in CLASSIFIERS else {"n_outputs": 2}
            return DECODERS.create(k, n_inputs=N_IN, calibrating=True, **size)
        return EVENT_FILTERS.get(k)(32, 24)

    def run(self, st, k: int) -> list[np.ndarray]:
        if self.family == "encoder":
            return list(st.encode(*_samples(k)))
        if self.family == "conditioner":
            return [st.process(*_samples(k))]
        if self.family == "filter":
            return [st(_events(k))]
        out = []
        st.calibrating = k == 0  # part 0 calibrates, later parts decode
        for j, (idx, t, until) in enumerate(_spikes(k)):
            target = None
            if k == 0:
                target = [float(j % 3)] if self.kind in CLASSIFIERS else [np.sin(j / 5), np.cos(j / 7)]
            out.append(np.array(st.decode(idx, t, until, target), copy=True))
        return out


CASES = ([Stage("encoder", k) for k in ENCODERS.names()] + [Stage("conditioner", k) for k in CONDITIONERS.names()]
         + [Stage("decoder", k) for k in DECODERS.names()] + [Stage("filter", k) for k in EVENT_FILTERS.names()])


def _eq(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    return np.array_equal(x, y, equal_nan=x.dtype.kind == "f" and y.dtype.kind == "f")


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))


def _snapshot(st) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in st.get_state().items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.family}-{c.kind}")
def test_state_is_copied_restored_and_checked_before_it_is_written(case):
    a, twin = case.build(), case.build()
    case.run(a, 0)
    case.run(twin, 0)
    state = a.get_state()
    stateless = case.family == "filter" and case.kind in ("downsample", "polarity", "roi")
    assert bool(state) != stateless, f"{case.kind}: state {sorted(state)}"
    # 1. get_state gives copies: scribbling on them changes nothing in the stage
    for v in a.get_state().values():
        v = np.asarray(v)
        if v.size and v.flags.writeable:
            v[...] = 1 if v.dtype.kind in "iub" else 0.123
    # 2. a fresh stage given the mid-stream state continues exactly as the stage itself does
    b = case.build()
    b.set_state(state)
    out_a, out_b, out_twin = case.run(a, 1), case.run(b, 1), case.run(twin, 1)
    assert _same(out_a, out_twin), "changing get_state()'s arrays changed the stage"
    assert _same(out_b, out_a), "a restored stage does not continue the stream"
    assert any(np.asarray(o).size for o in out_a), "the test stream should produce output"
    if stateless:
        return
    # 3. one bad entry (the last one, so that a stage writing as it checks would have written the rest):
    #    refused, and nothing written
    c = case.build()
    case.run(c, 2)
    before = _snapshot(c)
    good = {k: np.array(v, copy=True) for k, v in a.get_state().items()}
    last = sorted(good)[-1]
    bad = dict(good)
    bad[last] = np.zeros(np.asarray(good[last]).size + 3)
    with pytest.raises(ValueError):
        c.set_state(bad)
    after = _snapshot(c)
    changed = [k for k in before if not _eq(before[k], after[k])]
    assert before.keys() == after.keys() and not changed, f"{case.kind}: a refused state was partly written: {changed}"
