"""A relay node in its own process that a test feeds (it binds the upstream PUB) and reads (a SUB on the
relay's output), through the real runtime: sockets, validation, order-keeping, control channel."""

import subprocess
import sys
import time

import numpy as np
import zmq
from runtime_helpers import command, ep, node_table, wait_for, write_pipeline

from spikestream import protocol as P
from spikestream import transport


def samples(stream, seq, t, n=1):
    ts = np.arange(t - n + 1, t + 1, dtype=np.int64)
    return P.pack(P.Message(P.Samples(ts, np.ones((n, 1), np.float32), 1.0), stream, seq, t, time.time_ns()))


class RelayRig:
    """`send` frames into the relay, `received` what it passed on, `stats` its runtime figures."""

    def __init__(self, tmp_path, extra="", sub_opts=None):
        self.e = dict(up=ep(), out=ep(), ctl=ep())
        self.path = write_pipeline(tmp_path, node_table("relay", "relay", inputs={"in": self.e["up"]},
                                                        outputs={"out": self.e["out"]}, control=self.e["ctl"],
                                                        extra=extra), name="relay.toml")
        ctx = zmq.Context.instance()
        self.up = transport.pub(ctx, self.e["up"])
        self.down = transport.sub(ctx, [self.e["out"]])
        self.proc = subprocess.Popen([sys.executable, "-m", "spikestream", "node", str(self.path), "relay"])
        self.got: list[P.Message] = []
        wait_for(lambda: command(self.e["ctl"], "ping"), what="relay up")
        k = 0

        def through():  # the whole path carries data (PUB/SUB joins are asynchronous)
            nonlocal k
            self.up.send(samples("warmup", k, k))
            k += 1
            return self.drain(0.05)

        wait_for(through, what="the relay passing data")
        self.got.clear()
        self.base = self.stats()  # the warm-up's own counts (a late join drops its first messages)

    def send(self, frame):
        self.up.send(frame)

    def drain(self, wait_s=0.05):
        while self.down.poll(int(wait_s * 1000)):
            self.got.append(P.unpack(self.down.recv()))
        return self.got

    def times(self):
        return [m.t_us for m in self.got]

    def stats(self):
        r = command(self.e["ctl"], "stats")
        return r.result["runtime"] if r is not None and r.ok else None

    def delta(self):
        """The runtime's counters since the warm-up."""
        s = self.stats()
        return {k: v - self.base.get(k, 0) for k, v in s.items() if type(v) is int}

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        finally:
            self.proc.kill()
            self.up.close(0)
            self.down.close(0)
