"""The output node tells the actuator: the safe value on close (stop, SIGTERM, end of run), when a callback
raises, and when input is stale; the watchdog runs on the monotonic clock; no command derived from input
older than max_age_ms is ever published (issue 11 item 4)."""

import csv
import time

import numpy as np
import pytest

import spikestream.nodes  # noqa: F401  (registers node kinds)
from spikestream.protocol import Control, Message, Spikes
from spikestream.testing import NodeHarness

N, K = 8, 2
SAFE = [0.25, -0.5]


def _node(tmp_path=None, default_age=False, **params):
    """A node on the real clocks; max_age_ms is generous (5 s: a loaded machine's stall never makes a packet
    stale) unless `default_age`, where the node's own default applies."""
    base = {"decoder": {"kind": "linear_rls", "n_inputs": N, "n_outputs": K},
            "safety": {"lo": -1.0, "hi": 1.0, "timeout_s": 0.3, "safe_value": SAFE}, "calibrate_s": 0.0}
    if not default_age:
        base["max_age_ms"] = 5000.0
    if tmp_path is not None:
        base["sinks"] = [{"kind": "csv", "path": str(tmp_path / "out.csv")}]
    base.update(params)
    h = NodeHarness("control_output", base, name="out")
    return h.node, h.out


def _packet(k, origin_ns):
    t0 = k * 10_000
    return Message(Spikes(t0, t0 + 10_000, N, np.array([k % N], np.uint32), np.array([t0], np.int64)), "sp", k, t0,
                   origin_ns=origin_ns)


@pytest.fixture(autouse=True, scope="module")
def _compiled():
    """Compile the decoder's kernels once: a first packet that waits seconds for Numba is (rightly) stale."""
    n, _ = _node()
    n.on_message("in", _packet(0, time.time_ns()))


def _live(n, out, k0=0, count=5):
    for k in range(k0, k0 + count):
        n.on_message("in", _packet(k, time.time_ns()))
    assert out and not out[-1][1].safe


def test_close_sends_the_safe_value_on_out_and_every_sink_before_they_close(tmp_path):
    n, out = _node(tmp_path)
    _live(n, out)
    n.close()
    port, body, _, _ = out[-1]
    assert port == "out" and isinstance(body, Control) and body.safe and np.array_equal(body.values, SAFE)
    rows = list(csv.reader((tmp_path / "out.csv").open()))
    assert rows[-1][3] == "1" and [float(v) for v in rows[-1][4:]] == SAFE  # the sink got it before closing
    assert sum(r[3] == "0" for r in rows[1:]) == 5
    n.close()  # a second close sends nothing more
    assert sum(o[1].safe for o in out) == 1


def test_close_sends_the_safe_value_itself_even_in_slew_mode():
    n, out = _node(safety={"lo": -1.0, "hi": 1.0, "timeout_s": 0.3, "safe_value": SAFE, "max_rate": 0.1,
                           "safe_mode": "slew"})
    _live(n, out)
    n.close()
    assert out[-1][1].safe and np.array_equal(out[-1][1].values, SAFE)


@pytest.mark.parametrize("where", ["on_message", "poll"])
def test_a_raising_callback_sends_the_safe_value_then_reraises(where, tmp_path):
    n, out = _node(tmp_path)
    _live(n, out)

    def boom(*a, **kw):
        raise RuntimeError("decoder bug")

    if where == "on_message":
        n.decoder.decode = boom
        with pytest.raises(RuntimeError):
            n.on_message("in", _packet(5, time.time_ns()))
    else:
        n.sinks[0].stats = boom  # a sink's bug surfaces in the watchdog tick
        with pytest.raises(RuntimeError):
            n.poll(time.time_ns())
    assert out[-1][1].safe and np.array_equal(out[-1][1].values, SAFE)
    assert n.counters["fail_safe"] == 1 and n.safety.safe


def test_output_stays_safe_after_a_fault_until_fresh_input():
    n, out = _node()
    _live(n, out)
    n.decoder.decode, real = (lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("x"))), n.decoder.decode
    with pytest.raises(RuntimeError):
        n.on_message("in", _packet(5, time.time_ns()))
    n.poll(time.time_ns())
    assert out[-1][1].safe  # still safe on the next tick, not the last command
    n.decoder.decode = real
    n.on_message("in", _packet(6, time.time_ns()))
    assert not out[-1][1].safe and not n.safety.safe


def test_a_wall_clock_step_back_does_not_silence_the_watchdog(monkeypatch):
    """NTP stepping the clock back an hour at boot: the watchdog must still trip after timeout_s."""
    real = time.time_ns
    offset = [0]
    monkeypatch.setattr(time, "time_ns", lambda: real() + offset[0])
    n, out = _node()
    _live(n, out)
    offset[0] = -3600 * 10**9  # the wall clock steps back one hour
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0 and not out[-1][1].safe:
        n.poll(time.time_ns())  # the runtime passes its wall time
        time.sleep(0.005)
    took = time.monotonic() - t0
    assert out[-1][1].safe, "the watchdog never tripped after a wall-clock step"
    assert 0.25 <= took <= 0.3 + 0.5


def test_wake_at_is_on_the_wall_clock_the_loop_uses():
    n, out = _node()
    _live(n, out)
    wake = n.wake_at_ns()
    assert abs(wake - (time.time_ns() + 0.3e9)) < 0.1e9


def test_stale_input_is_never_published_by_default():
    """max_age_ms is on by default (100 ms): a packet whose origin is 3.4 s old yields no command, is counted,
    and does not feed the watchdog, so lasting overload ends in the safe value."""
    n, out = _node(default_age=True)
    assert n.max_age_ns == 100e6  # on by default
    _live(n, out)
    k = len(out)
    for j in range(10):
        n.on_message("in", _packet(10 + j, time.time_ns() - 3_400_000_000))
    assert len(out) == k and n.counters["stale_dropped"] == 10
    n.on_message("in", _packet(20, time.time_ns() - 150_000_000))  # just over 100 ms: refused too
    n.on_message("in", _packet(21, time.time_ns()))  # fresh: sent
    assert len(out) == k + 1 and not out[-1][1].safe and n.counters["stale_dropped"] == 11
    n.safety.times[1] -= 1.0  # the last fresh input was a second ago: stale packets did not feed the watchdog
    n.poll(time.time_ns())
    assert out[-1][1].safe


def test_max_age_can_be_set_or_turned_off():
    n, out = _node(max_age_ms=float("inf"))
    n.on_message("in", _packet(0, time.time_ns() - 3_400_000_000))
    assert len(out) == 1 and "stale_dropped" not in n.counters
    n, out = _node(max_age_ms=5000)
    n.on_message("in", _packet(0, time.time_ns() - 3_400_000_000))
    assert len(out) == 1
    n, out = _node(max_age_ms=3000)
    n.on_message("in", _packet(0, time.time_ns() - 3_400_000_000))
    assert len(out) == 0 and n.counters["stale_dropped"] == 1
    for bad in (0, -1, "100", True):
        with pytest.raises(ValueError, match="max_age_ms"):
            _node(max_age_ms=bad)


def test_on_stop_sends_the_safe_value_and_publishes_nothing_decoded_after_it():
    n, out = _node()
    _live(n, out)
    n.on_stop()
    assert out[-1][1].safe and np.array_equal(out[-1][1].values, SAFE)
    k = len(out)
    n.on_message("in", _packet(10, time.time_ns()))  # drained after the stop: decoded, not published
    assert len(out) == k and n.counters["decoded_after_stop"] == 1
    n.on_stop()
    n.close()
    assert all(o[1].safe for o in out[k - 1:])


def test_dropping_stale_commands_is_said_once_a_second_not_per_packet(caplog):
    """A stall upstream (a kernel compiling, a loaded machine) makes a burst of stale packets: one WARNING
    line says the node is dropping commands and why, the counter has them all."""
    n, out = _node(default_age=True)
    _live(n, out)
    with caplog.at_level("WARNING"):
        for j in range(20):
            n.on_message("in", _packet(10 + j, time.time_ns() - 2_000_000_000))
    said = [r.getMessage() for r in caplog.records if "dropping commands" in r.getMessage()]
    assert len(said) == 1 and "max_age_ms = 100" in said[0] and "safe value" in said[0], said
    assert n.counters["stale_dropped"] == 20
