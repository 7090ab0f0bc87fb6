"""What a node knows about the streams it receives: order, gaps, restarts and jumps of time, per port.

Each (port, stream) keeps the last sequence number seen and the last source time accepted. The rules
(docs/protocol.md, "Order, gaps and time"):

- ``seq`` one more than the last: in order. A gap of up to `MAX_GAP` messages is counted as ``dropped``;
  a larger jump (a forged or corrupt number, 2**64-1 say) is counted under ``seq_jumps`` instead, so the
  counters stay meaningful and bounded. A smaller or equal ``seq`` means the sender restarted: its time
  may begin again too, and the message is accepted.
- ``t_us`` not behind the last accepted time: accepted. A message behind it is *held*, not delivered. If
  the next message is back on the old time base, the held ones were isolated glitches: rejected. If
  instead `RESET_RUN` consecutive messages are behind and agree with each other (their times do not go
  back among themselves), the stream's time base has restarted or jumped (a stage that follows a
  restarted source back in time while its own sequence counts on, or a single far-future outlier
  accepted earlier): the receiver adopts the new time base, counts a ``time_reset``, and delivers the
  held messages in order. Nothing valid is lost; they reach the node at most ``RESET_RUN - 1`` message
  intervals late.
- At most `MAX_STREAMS` streams per port are remembered (least recently seen evicted, counted under
  ``streams_evicted``): a peer cycling through new stream names cannot grow the node's memory.

Why 3: the receiver does not know a stream's rate, so a count is the one measure that works for a
10 Hz and a 10 kHz stream alike; one corrupt or forged time (or two unrelated ones) never re-bases a
stream, and a genuine restart costs at most two message intervals of delay (at 10 Hz, 0.2 s: under
an output's watchdog timeout), no loss.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

from spikestream.protocol import Message

RESET_RUN = 3  # consecutive, mutually consistent messages behind the stream's time that re-base it
MAX_GAP = 1 << 20  # larger sequence jumps are anomalies (seq_jumps), not counts of lost messages
MAX_STREAMS = 64  # remembered per input port


class _Track:
    __slots__ = ("seq", "t_us", "held")

    def __init__(self, seq: int, t_us: int):
        self.seq, self.t_us = seq, t_us
        self.held: list[Message] = []


class InputStreams:
    """Order-keeping for every input port of one node. `accept` says which messages to deliver now.

    Counts into the attributes of `stats` (a `NodeStats`): ``dropped``, ``rejected``, ``seq_jumps``,
    ``time_resets``, ``upstream_restarts``, ``streams_evicted``. `warn(key, text)` is a rate-limited log.
    """

    def __init__(self, stats, warn: Callable[[str, str], None], max_streams: int = MAX_STREAMS,
                 reset_run: int = RESET_RUN, max_gap: int = MAX_GAP):
        self.stats, self.warn = stats, warn
        self.max_streams, self.reset_run, self.max_gap = max_streams, reset_run, max_gap
        self._ports: dict[str, OrderedDict[str, _Track]] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._ports.values())

    def _gap(self, port: str, stream: str, n: int, what: str) -> None:
        if n <= self.max_gap:
            self.stats.dropped += n
        else:
            self.stats.seq_jumps += 1
            self.warn(f"seqjump:{port}", f"input {port!r}: {stream} {what} jumped by {n} messages; not counted "
                                         "as dropped (more than could plausibly have been lost)")

    def _reject_held(self, port: str, tr: _Track) -> None:
        if tr.held:
            self.stats.rejected += len(tr.held)
            m = tr.held[-1]
            self.warn(f"order:{port}", f"input {port!r}: {m.stream} went back in time ({m.t_us} < {tr.t_us} us) "
                                       f"for {len(tr.held)} message(s), then resumed; rejected")
            tr.held = []

    def accept(self, port: str, msg: Message) -> Sequence[Message]:
        """The messages to hand to the node now, in order: usually ``(msg,)``, ``()`` while `msg` is held
        or rejected, several when a run of held messages re-bases the stream's time."""
        streams = self._ports.get(port)
        if streams is None:
            streams = self._ports[port] = OrderedDict()
        tr = streams.get(msg.stream)
        if tr is None:
            if len(streams) >= self.max_streams:
                streams.popitem(last=False)
                self.stats.streams_evicted += 1
            streams[msg.stream] = _Track(msg.seq, msg.t_us)
            if msg.seq > 0:  # sent before we were listening (a late start or a restart here)
                self._gap(port, msg.stream, msg.seq, "joined at a sequence number that")
                if msg.seq <= self.max_gap:
                    self.warn(f"late:{port}", f"input {port!r}: joined {msg.stream} at message {msg.seq}; "
                                              "the earlier ones are counted as dropped")
            return (msg,)
        streams.move_to_end(msg.stream)
        if msg.seq <= tr.seq:  # the sender restarted: its sequence, maybe its clock, begin again
            self.stats.upstream_restarts += 1
            self._reject_held(port, tr)
            tr.seq, tr.t_us = msg.seq, msg.t_us
            return (msg,)
        if msg.seq > tr.seq + 1:
            self._gap(port, msg.stream, msg.seq - tr.seq - 1, "sequence")
        tr.seq = msg.seq
        if msg.t_us >= tr.t_us:
            self._reject_held(port, tr)
            tr.t_us = msg.t_us
            return (msg,)
        if tr.held and msg.t_us < tr.held[-1].t_us:  # behind, but not in step with the run held so far
            self._reject_held(port, tr)
        tr.held.append(msg)
        if len(tr.held) < self.reset_run:
            return ()
        run, tr.held = tr.held, []
        self.stats.time_resets += 1
        self.warn(f"reset:{port}", f"input {port!r}: {msg.stream}'s time went back from {tr.t_us} to "
                                   f"{run[0].t_us} us for {len(run)} consecutive messages; following its new "
                                   "time base (a restart or a clock jump upstream)")
        tr.t_us = run[-1].t_us
        return run
