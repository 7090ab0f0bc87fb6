"""The BrainFlow source and node against BrainFlow itself: its SYNTHETIC_BOARD (every sample delivered in
order, uniform times), its PLAYBACK_FILE_BOARD replaying a file BrainFlow wrote (the file's values), a board
that is not connected (a WARNING and retries, the node keeps serving), a silent board (stall, reconnect),
and configurations BrainFlow refuses (the node does not start: exit 78 through `spikestream run`)."""

import logging
import subprocess
import sys
import time

import numpy as np
import pytest
from sources_live_helpers import collect, wait_for

from spikestream.testing import NodeHarness

bf = pytest.importorskip("brainflow")
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams  # noqa: E402
from brainflow.data_filter import DataFilter  # noqa: E402

from spikestream.sources.brainflow import BrainFlowSource  # noqa: E402

SYNTH = BoardIds.SYNTHETIC_BOARD.value


def _rows(h):
    return sum(e.body.data.shape[0] for e in h.out)


def _drain(h, n, timeout_s=15.0):
    def enough():
        h.node.poll(time.time_ns())
        return _rows(h) >= n

    assert wait_for(enough, timeout_s), f"{_rows(h)} of {n} rows"
    return np.concatenate([e.body.t_us for e in h.out]), np.concatenate([e.body.data for e in h.out])


def test_synthetic_board_every_sample_in_order_at_uniform_times():
    package_row = BoardShim.get_package_num_channel(SYNTH)
    h = NodeHarness("brainflow_source", {"board_id": "SYNTHETIC_BOARD", "channels": [package_row, "Fz", "Cz"]})
    try:
        assert h.node.src.connected and h.node.src.rate_hz == 250.0
        t, x = _drain(h, 300)
        assert h.out[0].body.channels == [f"ch{package_row}", "Fz", "Cz"] and h.out[0].port == "samples"
        # BrainFlow's own sample counter (0..255, wrapping): consecutive, so nothing was lost or repeated
        assert (np.diff(x[:, 0]) % 256 == 1).all()
        assert (np.diff(t) == 4000).all()  # counter times at 250 Hz
        assert h.node.counters["gaps"] == 0 and h.node.counters["connect_attempts"] == 1
        first = h.out[0].origin_ns
        assert abs(first - time.time_ns()) < 30e9  # origin: BrainFlow's Unix stamps
    finally:
        h.node.close()
    exg = NodeHarness("brainflow_source", {"board_id": -1})  # default: the EXG rows, named from eeg_names
    try:
        assert exg.node.src.rows == BoardShim.get_exg_channels(SYNTH)
        assert exg.node.src.channels[:3] == ["Fz", "C3", "Cz"]
    finally:
        exg.node.close()


def _synthetic_recording(path, n: int) -> np.ndarray:
    """n rows from BrainFlow's synthetic board, written to `path` by BrainFlow itself; returns them."""
    b = BoardShim(SYNTH, BrainFlowInputParams())
    b.prepare_session()
    b.start_stream(45000)
    wait_for(lambda: b.get_board_data_count() >= n, 15)
    data = b.get_board_data(n)
    b.stop_stream()
    b.release_session()
    DataFilter.write_file(data, str(path), "w")
    return data


def test_playback_file_board_replays_a_file_brainflow_wrote(tmp_path):
    path = tmp_path / "rec.csv"
    data = _synthetic_recording(path, 500)
    rows = BoardShim.get_exg_channels(SYNTH)[:4]

    h = NodeHarness("brainflow_source", {"board_id": "PLAYBACK_FILE_BOARD", "file": str(path),
                                         "master_board": "SYNTHETIC_BOARD", "channels": rows})
    try:
        t, x = _drain(h, 300)
        np.testing.assert_allclose(x[:300], data[rows, :300].T.astype(np.float32), rtol=1e-5, atol=1e-3)
        assert (np.diff(t) == 4000).all()
    finally:
        h.node.close()


def test_silent_board_stalls_then_reconnects(tmp_path, caplog):
    """The playback board goes silent at the end of its file: a stall, then the session is released and
    opened again (the file plays again, its rows after a counted gap)."""
    data = _synthetic_recording(tmp_path / "short.csv", 50)
    src = BrainFlowSource("PLAYBACK_FILE_BOARD", channels=[0], file=str(tmp_path / "short.csv"),
                          master_board=SYNTH, stale_s=0.3, reconnect_s=0.6, retry_s=0.1)
    try:
        with caplog.at_level(logging.INFO, logger="spikestream.sources.brainflow"):
            t, x = collect(src, 100, timeout_s=20)
        assert src.stats["stalls"] >= 1 and src.stats["reconnects"] >= 1 and src.stats["gaps"] >= 1
        assert x[:50, 0].tolist() == data[0].tolist() and x[50:100, 0].tolist() == data[0].tolist()
        assert "releasing the session and reconnecting" in caplog.text and "connected to PLAYBACK_FILE_BOARD" in caplog.text
    finally:
        src.close()


def test_board_not_connected_warns_and_retries(caplog):
    with caplog.at_level(logging.WARNING):
        h = NodeHarness("brainflow_source", {"board_id": "MUSE_2_BOARD", "retry_s": 0.05})
    try:
        src = h.node.src
        assert not src.connected
        assert "board MUSE_2_BOARD" in caplog.text and "not connected" in caplog.text and "retrying" in caplog.text
        assert wait_for(lambda: src.stats["connect_attempts"] >= 3, 20)
        h.node.poll(time.time_ns())  # serves (nothing) meanwhile
        assert h.out == [] and not src.connected
    finally:
        t0 = time.monotonic()
        h.node.close()
        assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("params, match", [
    ({"board_id": "CYTON_BOARD"}, r"board CYTON_BOARD .*refuses this configuration: INVALID_ARGUMENTS_ERROR"),
    ({"board_id": "NO_SUCH_BOARD"}, r"unknown board 'NO_SUCH_BOARD'"),
    ({"board_id": 12345}, r"unknown board_id 12345"),
    ({"board_id": "PLAYBACK_FILE_BOARD", "file": "/nonexistent.csv", "master_board": -1}, r"not a file"),
    ({"board_id": -1, "channels": ["Qz"]}, r"no channel named 'Qz'"),
    ({"board_id": -1, "channels": "ecog"}, r"a channel type"),
    ({"board_id": -1, "channels": [99]}, r"not an EEG name nor a row in 0\.\.31"),
    ({"board_id": -1, "serial_prt": "/dev/x"}, r"unknown parameter 'serial_prt'; did you mean 'serial_port'"),
])
def test_bad_configurations_fail_setup(params, match):
    with pytest.raises(ValueError, match=match):
        NodeHarness("brainflow_source", params)


def test_a_board_refusing_its_configuration_exits_78(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('[nodes.eeg]\nkind = "brainflow_source"\noutputs = { samples = "tcp://127.0.0.1:auto" }\n'
                 'params = { board_id = "CYTON_BOARD" }\n')
    r = subprocess.run([sys.executable, "-m", "spikestream", "run", str(p), "--duration", "30"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 78, r.stderr[-2000:]
    assert "refuses this configuration" in r.stderr
