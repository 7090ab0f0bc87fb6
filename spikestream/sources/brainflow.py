"""Acquisition boards through BrainFlow (OpenBCI Cyton/Ganglion, Muse, g.tec, Neurosity, ... and BrainFlow's
own synthetic and playback-file boards): a source that never blocks the caller.

``brainflow`` is an optional dependency (``pip install 'spikestream[brainflow]'``), imported when a source
is built, so the package imports without it.

- **Board**: ``board_id`` (a number or a `BoardIds` name such as ``"SYNTHETIC_BOARD"``, ``"CYTON_BOARD"``)
  and the connection fields of BrainFlow's `BrainFlowInputParams` (``serial_port``, ``mac_address``,
  ``ip_address``, ``ip_port``, ``ip_protocol``, ``serial_number``, ``other_info``, ``timeout``, ``file``,
  ``master_board``). The playback-file board replays a file BrainFlow wrote (``DataFilter.write_file`` or a
  ``file://`` streamer) at its recorded pace, described by its ``master_board``.
- **Channels**: a channel type of the board (``"exg"`` by default; ``"eeg"``, ``"emg"``, ``"accel"``, ...),
  or a list of row numbers of the board's data or of its EEG names (``"Fz"``). Values are BrainFlow's
  (EXG in microvolts), as float32.
- **Time**: BrainFlow's timestamp row is the host's Unix time when a sample was parsed: measured on the
  synthetic board here (250 Hz, 2 busy cores), steps between samples ranged 16 us to 8 ms around the 4 ms
  period, so taken as they are they give irregular times and false gaps. ``timestamps = "counter"`` (the
  default) numbers samples at the nominal rate from the first stamp and follows the stamps only where they
  run ahead by more than ``resync_s`` (lost samples: the counter jumps and the file/time checks count the
  gap); ``"board"`` uses the stamps as they are. ``origin_ns`` is the stamp of a chunk's first sample.
  Rows pass `TimeChecker`.
- **Connection**: the first ``prepare_session`` runs in the constructor. An error no retry can fix
  (BrainFlow's INVALID_ARGUMENTS / UNSUPPORTED_BOARD: a missing serial port, a wrong board) is a
  ValueError, so the node exits 78. A board that is not there (port missing, no dongle, no reply) is one
  WARNING and a retry every ``retry_s`` in a thread (logged again after 5, 10, 20, ... s); `read` returns
  nothing meanwhile. A connected board silent for ``stale_s`` counts a stall; silent for ``reconnect_s``,
  the session is released and the thread reconnects (``reconnects``).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from spikestream.registry import SOURCES
from spikestream.sources._base import Chunk, TimeChecker, empty_chunk

_PARAMS = ("serial_port", "mac_address", "ip_address", "ip_port", "ip_protocol", "serial_number", "other_info",
           "timeout", "file", "master_board")
#: BrainFlow exit codes that a retry cannot fix: the configuration is wrong.
_CONFIG_ERRORS = ("INVALID_ARGUMENTS_ERROR", "UNSUPPORTED_BOARD_ERROR", "JSON_NOT_FOUND_ERROR",
                  "NO_SUCH_DATA_IN_JSON_ERROR", "ANOTHER_BOARD_IS_CREATED_ERROR")
_TYPES = ("exg", "eeg", "emg", "ecg", "eog", "eda", "ppg", "accel", "gyro", "analog", "temperature", "resistance",
          "magnetometer", "rotation", "optical", "other")


def _brainflow():
    try:
        from brainflow import board_shim
        from brainflow.exit_codes import BrainFlowExitCodes
    except ImportError:
        raise ValueError("brainflow_source needs the brainflow package: pip install 'spikestream[brainflow]'") from None
    return board_shim, BrainFlowExitCodes


def board_id_of(board_id) -> int:
    """A BrainFlow board id from a number or a `BoardIds` name; ValueError for an unknown one."""
    bs, _ = _brainflow()
    if isinstance(board_id, str):
        name = board_id.strip().upper()
        if name not in bs.BoardIds.__members__:
            raise ValueError(f"brainflow: unknown board {board_id!r}; e.g. SYNTHETIC_BOARD, CYTON_BOARD, MUSE_2_BOARD, "
                             "PLAYBACK_FILE_BOARD (brainflow.board_shim.BoardIds)")
        return int(bs.BoardIds[name].value)
    if isinstance(board_id, bool) or not isinstance(board_id, (int, np.integer)):
        raise ValueError(f"brainflow: board_id must be a number or a BoardIds name, got {board_id!r}")
    if int(board_id) not in {b.value for b in bs.BoardIds}:
        raise ValueError(f"brainflow: unknown board_id {board_id}")
    return int(board_id)


@SOURCES.register("brainflow")
class BrainFlowSource:
    def __init__(self, board_id=-1, channels="exg", timestamps: str = "counter", buffer_s: float = 30.0,
                 retry_s: float = 2.0, stale_s: float = 2.0, reconnect_s: float = 5.0, resync_s: float = 0.5,
                 log: logging.Logger | None = None, **connection):
        bs, codes = _brainflow()
        self._bs, self._codes = bs, codes
        self.log = log or logging.getLogger("spikestream.sources.brainflow")
        unknown = sorted(set(connection) - set(_PARAMS))
        if unknown:
            raise ValueError(f"brainflow: unknown parameter(s) {unknown}; connection fields: {list(_PARAMS)}")
        if timestamps not in ("board", "counter"):
            raise ValueError(f"brainflow: timestamps must be 'board' or 'counter', got {timestamps!r}")
        if not (buffer_s > 0 and retry_s > 0 and stale_s > 0 and resync_s > 0 and reconnect_s >= stale_s):
            raise ValueError("brainflow: buffer_s, retry_s, stale_s, resync_s must be > 0 and reconnect_s >= stale_s")
        bs.BoardShim.disable_board_logger()  # its JSON dumps and per-attempt errors: our own lines say it once
        self.board_id = board_id_of(board_id)
        self.params = bs.BrainFlowInputParams()
        for k, v in connection.items():
            if k == "master_board":
                v = board_id_of(v)
            setattr(self.params, k, v if k in ("ip_port", "ip_protocol", "timeout", "master_board") else str(v))
        playback = self.board_id == bs.BoardIds.PLAYBACK_FILE_BOARD.value
        if playback:
            from pathlib import Path

            if not connection.get("file") or not Path(str(connection["file"])).is_file():
                raise ValueError(f"brainflow: the playback-file board needs 'file', a file BrainFlow wrote; "
                                 f"{connection.get('file')!r} is not a file")
            if "master_board" not in connection:
                raise ValueError("brainflow: the playback-file board needs 'master_board' (the board that recorded the file)")
        self.describe_id = self.params.master_board if playback or self.board_id in (
            bs.BoardIds.STREAMING_BOARD.value,) else self.board_id
        self.rows, self.channels = self._select(channels)
        self.rate_hz = float(bs.BoardShim.get_sampling_rate(self.describe_id))
        self.ts_row = bs.BoardShim.get_timestamp_channel(self.describe_id)
        self.n_channels = len(self.rows)
        self.counter = timestamps == "counter"
        self.resync_us = float(resync_s) * 1e6
        self.buffer_samples = max(int(buffer_s * self.rate_hz), 1024)
        self.retry_s, self.stale_s, self.reconnect_s = float(retry_s), float(stale_s), float(reconnect_s)
        self.name = bs.BoardIds(self.board_id).name
        self.where = ", ".join(f"{k}={getattr(self.params, k)!r}" for k in _PARAMS if k in connection) or "no address"
        self.stats: dict[str, int] = {"connect_attempts": 0, "stalls": 0, "reconnects": 0}
        self._check = TimeChecker(self.rate_hz, self.stats, self.log, f"brainflow {self.name}")
        self._board = None
        self._k = 0  # samples numbered so far (timestamps = "counter")
        self._t0_us = None
        self._last_data = time.monotonic()
        self._stalled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t_wait = time.monotonic()
        self._say_at = 5.0
        if not self._try_connect(first=True):
            self._start_thread()

    # ------------------------------------------------------------------ configuration
    def _select(self, channels):
        bs = self._bs
        try:
            descr = bs.BoardShim.get_board_descr(self.describe_id)
        except Exception as e:
            raise ValueError(f"brainflow: no description of board {self.describe_id}: {e}") from None
        eeg_names = [n for n in str(descr.get("eeg_names", "")).split(",") if n]
        eeg_rows = list(descr.get("eeg_channels", []))
        names_of = dict(zip(eeg_rows, eeg_names)) if len(eeg_names) == len(eeg_rows) else {}
        n_rows = int(descr["num_rows"])
        if isinstance(channels, str):
            kind = channels.lower()
            if kind not in _TYPES:
                raise ValueError(f"brainflow: channels = {channels!r}: a channel type ({', '.join(_TYPES)}) or a list")
            rows = sorted(set(descr.get(f"{kind}_channels", []))) if kind != "exg" else sorted(
                {r for k in ("eeg", "emg", "ecg", "eog") for r in descr.get(f"{k}_channels", [])})
            if not rows:
                raise ValueError(f"brainflow: board {descr.get('name', self.describe_id)} has no {kind} channels")
        else:
            rows = []
            for c in channels:
                if isinstance(c, str):
                    match = [r for r, n in names_of.items() if n == c]
                    if not match:
                        raise ValueError(f"brainflow: no channel named {c!r}; EEG names: {eeg_names}")
                    rows.append(match[0])
                elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= int(c) < n_rows:
                    rows.append(int(c))
                else:
                    raise ValueError(f"brainflow: channel {c!r} is not an EEG name nor a row in 0..{n_rows - 1}")
            if not rows or len(set(rows)) != len(rows):
                raise ValueError(f"brainflow: channels = {channels!r}: give at least one, each once")
        return rows, [names_of.get(r, f"ch{r}") for r in rows]

    # ------------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        return self._board is not None

    def _try_connect(self, first: bool = False) -> bool:
        bs = self._bs
        self.stats["connect_attempts"] += 1
        board = bs.BoardShim(self.board_id, self.params)
        try:
            board.prepare_session()
            board.start_stream(self.buffer_samples)
        except bs.BrainFlowError as e:
            code = self._codes(e.exit_code).name if e.exit_code in {c.value for c in self._codes} else str(e.exit_code)
            try:
                if board.is_prepared():
                    board.release_session()
            except bs.BrainFlowError:
                pass
            if code in _CONFIG_ERRORS:
                msg = (f"brainflow: board {self.name} ({self.where}) refuses this configuration: {code} (a missing or "
                       "wrong serial_port / ip / mac, or a wrong board id); fix the pipeline file")
                if first:
                    raise ValueError(msg) from None
                self.log.error("%s; retrying every %g s anyway", msg, self.retry_s)
                return False
            waited = time.monotonic() - self._t_wait
            if first:
                self.log.warning("brainflow: board %s (%s) not connected: %s; retrying every %g s", self.name, self.where,
                                 code, self.retry_s)
            elif waited >= self._say_at:  # said after 5 s, 10, 20, 40 ...: never silent, never flooding
                self._say_at *= 2
                self.log.warning("brainflow: board %s (%s) still not connected after %.0f s (%s); retrying", self.name,
                                 self.where, waited, code)
            return False
        self._last_data = time.monotonic()
        self._stalled = False
        self._t0_us, self._k = None, 0  # "counter" times restart from the new session's first stamp (a gap)
        self._board = board  # published last: read() uses it from now on
        self.log.info("brainflow: connected to %s (%s): %d channel(s) %s at %g Hz", self.name, self.where,
                      self.n_channels, self.channels, self.rate_hz)
        return True

    def _start_thread(self) -> None:
        self._t_wait, self._say_at = time.monotonic(), 5.0

        def run():
            while not self._stop.wait(self.retry_s):
                if self._try_connect():
                    return

        self._thread = threading.Thread(target=run, name="brainflow-connect", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout_s: float) -> bool:
        """For tests and start-up scripts: wait (blocking) until the board streams."""
        t_end = time.monotonic() + timeout_s
        while not self.connected and time.monotonic() < t_end:
            if self._thread is not None:
                self._thread.join(min(0.05, max(t_end - time.monotonic(), 0)))
            else:
                time.sleep(0.01)
        return self.connected

    def _release(self) -> None:
        board, self._board = self._board, None
        if board is None:
            return
        for step in (board.stop_stream, board.release_session):
            try:
                step()
            except self._bs.BrainFlowError:
                pass

    # ------------------------------------------------------------------ data
    def read(self, max_samples: int | None = None) -> Chunk:
        board = self._board
        if board is None:
            return empty_chunk(self.n_channels)
        n = board.get_board_data_count()
        if max_samples is not None:
            n = min(n, int(max_samples))
        now = time.monotonic()
        if n == 0:
            silent = now - self._last_data
            if not self._stalled and silent > self.stale_s:
                self._stalled = True
                self.stats["stalls"] += 1
                self.log.warning("brainflow: no data from %s for %.1f s", self.name, silent)
            if silent > self.reconnect_s:
                self.stats["reconnects"] += 1
                self.log.warning("brainflow: %s silent for %.1f s; releasing the session and reconnecting", self.name,
                                 silent)
                self._release()
                self._start_thread()
            return empty_chunk(self.n_channels)
        if self._stalled:
            self._stalled = False
            self.log.info("brainflow: data from %s flows again", self.name)
        self._last_data = now
        raw = board.get_board_data(n)
        data = np.ascontiguousarray(raw[self.rows].T, np.float32)
        ts = raw[self.ts_row]
        if self.counter:
            t_us = self._count(ts)
        else:
            t_us = np.round(ts * 1e6).astype(np.int64)
        origin_ns = int(round(ts[0] * 1e9))
        t_us, data = self._check.admit(t_us, data)
        if t_us.size == 0:
            return empty_chunk(self.n_channels)
        return Chunk(t_us, data, origin_ns)

    def _count(self, ts: np.ndarray) -> np.ndarray:
        """Times at the nominal rate from the first stamp; jump ahead where the stamps lead by > resync_s."""
        period = 1e6 / self.rate_hz
        if self._t0_us is None:
            self._t0_us = int(round(ts[0] * 1e6))
        lead = ts[-1] * 1e6 - (self._t0_us + (self._k + ts.size - 1) * period)
        if lead > self.resync_us:
            self._k += int(round(lead / period))
        t_us = self._t0_us + np.round((self._k + np.arange(ts.size)) * period).astype(np.int64)
        self._k += ts.size
        return t_us

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_s + 5)
        self._release()
