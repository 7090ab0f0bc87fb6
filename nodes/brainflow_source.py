"""An acquisition board through BrainFlow (`spikestream.sources.brainflow`): OpenBCI, Muse, ... and
BrainFlow's synthetic and playback-file boards. Needs ``pip install 'spikestream[brainflow]'``."""

from __future__ import annotations

from spikestream.nodes.live_sources import LIVE, LiveSourceNode
from spikestream.params import Param, Params
from spikestream.runtime.node import register_node

_SOURCE_KEYS = ("board_id", "channels", "timestamps", "buffer_s", "retry_s", "stale_s", "reconnect_s", "resync_s")
_CONNECTION = ("serial_port", "mac_address", "ip_address", "ip_port", "ip_protocol", "serial_number", "other_info",
               "timeout", "file", "master_board")


@register_node("brainflow_source")
class BrainFlowSourceNode(LiveSourceNode):
    """A BrainFlow board (docs/sources.md). A board that is not connected: a WARNING and retries every
    retry_s; a configuration BrainFlow refuses (a missing serial port, an unknown board): the node does not
    start (exit 78). Counters: connect_attempts, stalls, reconnects and the time checks' (gaps,
    missing_samples, rejected_*)."""

    PARAMS = LIVE + Params(
        Param("board_id", (int, str), -1, doc='a BrainFlow board id or BoardIds name, e.g. "SYNTHETIC_BOARD" (-1), '
              '"CYTON_BOARD", "MUSE_2_BOARD", "PLAYBACK_FILE_BOARD"'),
        Param("channels", (str, list), "exg", doc='a channel type ("exg", "eeg", "emg", "accel", ...) or a list of '
              "the board's data rows / EEG names"),
        Param("timestamps", str, "counter", choices=("counter", "board"),
              doc='"counter": samples numbered at the nominal rate, resynchronised to BrainFlow\'s stamps when they '
              'lead by resync_s (lost samples); "board": the stamps as they are (host receive times, jittery)'),
        Param("resync_s", float, 0.5, unit="s", lo=0, lo_open=True, doc="see timestamps"),
        Param("buffer_s", float, 30.0, unit="s", lo=0, lo_open=True, doc="BrainFlow's ring buffer"),
        Param("retry_s", float, 2.0, unit="s", lo=0, lo_open=True, doc="wait between connection attempts"),
        Param("stale_s", float, 2.0, unit="s", lo=0, lo_open=True, doc="no data for this long counts as a stall"),
        Param("reconnect_s", float, 5.0, unit="s", lo=0, lo_open=True,
              doc="no data for this long: release the session and reconnect"),
        Param("serial_port", str, None, doc="e.g. /dev/ttyUSB0 (Cyton, Ganglion's dongle)"),
        Param("mac_address", str, None, doc="a Bluetooth board's address"),
        Param("ip_address", str, None, doc="a Wi-Fi or streaming board's address"),
        Param("ip_port", int, None, lo=0, doc="its port"),
        Param("ip_protocol", int, None, lo=0, doc="BrainFlow's IpProtocolTypes value"),
        Param("serial_number", str, None, doc="e.g. a Muse's name"),
        Param("other_info", str, None, doc="board-specific"),
        Param("timeout", int, None, unit="s", lo=0, doc="BrainFlow's discovery timeout"),
        Param("file", str, None, doc="PLAYBACK_FILE_BOARD: a file BrainFlow wrote"),
        Param("master_board", (int, str), None, doc="PLAYBACK_FILE_BOARD / STREAMING_BOARD: the recording board"),
    )

    def _make_source(self):
        from spikestream.sources.brainflow import BrainFlowSource

        kw = {k: self.p[k] for k in _SOURCE_KEYS}
        kw.update({k: self.p[k] for k in _CONNECTION if self.p.get(k) is not None})
        src = BrainFlowSource(**kw, log=self.log)
        self.counters.update(src.stats)
        return src
