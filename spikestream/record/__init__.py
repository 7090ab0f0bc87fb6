"""Recording, replay and plots of pipeline streams in XDF (Lab Streaming Layer's file format).

- `spikestream.record.xdf`: a small XDF writer and reader (no dependency beyond numpy);
- `spikestream.record.edf`: an EDF/EDF+/BDF reader (numpy only), replayed through the file source too;
- `spikestream.record.recorder`: ``spikestream record``, the ZeroMQ side (messages -> XDF streams);
- `spikestream.record.plot`: ``spikestream plot`` (matplotlib, optional: ``pip install spikestream[plot]``).

Replay goes through the file source: ``kind = "file_source"`` with ``path = "run.xdf"`` and ``stream``.
Nothing is imported here, so a node that replays a file never loads ZeroMQ or matplotlib for it.
"""
