"""The calibration schedule as a library object (spikestream.decode.calibration), without the runtime."""

import numpy as np
import pytest

from spikestream.decode.calibration import CalibrationSchedule, check_calibration_keys, target_columns


def test_by_time_learns_for_the_first_seconds_of_source_time_then_freezes():
    s = CalibrationSchedule(calibrate_s=1.0)
    assert s.initially_calibrating and not s.started
    ons = []
    for t0 in range(5_000_000, 7_000_000, 100_000):
        s.begin(t0)
        ons.append(s.calibrating_at(t0 + 100_000))
        s.advance(t0 + 100_000)
    assert ons == [True] * 10 + [False] * 10  # t1 - first t0 <= 1 s
    assert s.elapsed_s == pytest.approx(2.0)


def test_by_target_follows_the_phase_and_leaves_unknown_phases_alone():
    s = CalibrationSchedule(by_target=True)
    assert not s.initially_calibrating
    s.begin(0)
    assert [s.calibrating_at(10, p) for p in (1, -1, 0)] == [True, None, False]


def test_forced_and_restart_keep_the_schedule_where_it_was():
    s = CalibrationSchedule(calibrate_s=1.0)
    s.begin(0), s.advance(2**62)  # a bogus jump ahead
    s.restart(1000)
    assert s.calibrating_at(1000 + 10) is False  # calibration is over, and nothing overflowed
    s.force(True)
    assert s.calibrating_at(10**9) is None


def test_state_round_trip_and_a_bad_state_is_refused_before_anything_is_written():
    s = CalibrationSchedule(calibrate_s=1.0)
    s.begin(0), s.advance(500_000)
    st = s.get_state()
    st[2] = 99  # a copy
    assert s.last_t1_us == 500_000
    r = CalibrationSchedule(calibrate_s=1.0)
    r.set_state(s.get_state())
    assert r.resumed_calibrating() and r.get_state().tolist() == [0, 0, 500_000, 1]
    with pytest.raises(ValueError):
        r.set_state(np.array([0, 7, 0, 1]))
    assert r.get_state().tolist() == [0, 0, 500_000, 1]


def test_the_calibration_keys_that_go_together():
    assert target_columns({"calibrate": "target"}) == ([0], 1)
    assert target_columns({"calibrate": "time", "target_channels": [2, 3]}) == ([2, 3], None)
    with pytest.raises(ValueError, match="exclude"):
        check_calibration_keys({"calibrate": "target", "target_channels": None, "phase_channel": None},
                               {"calibrate_s": 3})
    with pytest.raises(ValueError, match="needs calibrate"):
        check_calibration_keys({"calibrate": "time"}, {"phase_channel": 1})


def test_a_notebook_loop_with_the_schedule_decides_exactly_what_the_output_node_sends():
    import decode_helpers as hp

    import spikestream.nodes  # noqa: F401
    from spikestream.protocol import Message, Samples, Spikes
    from spikestream.registry import DECODERS
    from spikestream.testing import NodeHarness

    N, K, DT, T = 12, 2, 10_000, 400
    rng = np.random.default_rng(3)
    tt = np.arange(T) * DT / 1e6
    Y = np.stack([np.sin(2 * np.pi * 0.5 * tt), np.cos(2 * np.pi * 0.3 * tt)], 1).astype(np.float32)
    pk = hp.poisson_packets(30 * np.clip(1 + 0.8 * Y @ rng.normal(size=(K, N)), 0.05, None), DT, 3)
    dec_params = {"n_inputs": N, "n_outputs": K, "tau_ms": 50.0}
    h = NodeHarness("control_output", {"decoder": {"kind": "linear_rls", **dec_params}, "calibrate_s": 2.0,
                                       "safety": {"timeout_s": 1e6}})
    sched = CalibrationSchedule(calibrate_s=2.0)
    dec = DECODERS.create("linear_rls", **dec_params, calibrating=sched.initially_calibrating)
    mine = []
    for k, (idx, t, t0, t1) in enumerate(pk):
        h.node.on_message("target", Message(Samples(np.array([t0], np.int64), Y[k:k + 1]), "tgt", k, t0))
        h.node.on_message("in", Message(Spikes(t0, t1, N, idx.astype(np.uint32), t), "sp", k, t0))
        sched.begin(t0)
        on = sched.calibrating_at(t1)
        if on is not None:
            dec.calibrating = on
        target = Y[k].astype(np.float64) if dec.calibrating else None
        mine.append(dec.decode(idx.astype(np.uint32), t, t1, target).copy())
        sched.advance(t1)
    sent = np.array([b.values for b in h.bodies("out")])
    assert sent.shape == (T, K) and not dec.calibrating and h.node.decoder.calibrating is False
    np.testing.assert_array_equal(sent, np.array(mine))
    assert np.abs(sent[-100:]).max() > 0.1  # it learned something


def test_calibrate_from_s_learns_in_a_window_that_starts_later():
    """`calibrate_from_s`: the window opens N s after the first packet (an SNN upstream settles first)."""
    s = CalibrationSchedule(calibrate_s=1.0, from_s=0.5)
    assert not s.initially_calibrating
    ons = []
    for t0 in range(0, 2_000_000, 100_000):
        s.begin(t0)
        ons.append(s.calibrating_at(t0 + 100_000))
        s.advance(t0 + 100_000)
    assert ons == [False] * 5 + [True] * 10 + [False] * 5  # 0.5 s < t1 - first t0 <= 1.5 s
    r = CalibrationSchedule(calibrate_s=1.0, from_s=0.5)  # resumed from a checkpoint inside the window, and after it
    st = s.get_state()
    st[2] = 700_000
    r.set_state(st)
    assert r.resumed_calibrating()
    st[2] = 1_600_000
    r.set_state(st)
    assert not r.resumed_calibrating()
    s.restart(10**9)  # a source restart after the window: it stays over
    assert s.calibrating_at(10**9 + 100_000) is False


def test_calibrate_from_s_with_target_calibration_is_refused():
    v = {"calibrate": "target", "target_channels": [0], "phase_channel": 1, "calibrate_from_s": 5.0}
    with pytest.raises(ValueError, match="calibrate_from_s"):
        check_calibration_keys(v, {"calibrate": "target", "calibrate_from_s": 5.0})
    with pytest.raises(ValueError, match="calibrate_from_s"):
        CalibrationSchedule(calibrate_s=1.0, from_s=-1.0)
