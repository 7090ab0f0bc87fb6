"""Helpers shared by the runtime tests: wait on a condition, a free endpoint, a control-channel command."""

import os
import time

import zmq

from spikestream import protocol as P
from spikestream import transport


def wait_for(cond, timeout=20.0, every=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def ep():
    return f"tcp://127.0.0.1:{transport.free_tcp_port()}"


def command(endpoint, cmd, args=None, timeout=1.0):
    """A command's reply body, or None when the node does not answer in time."""
    try:
        token = os.environ.get("SPIKESTREAM_CONTROL_TOKEN", "")  # conftest gives the tests' nodes one
        frame = transport.request(zmq.Context.instance(), endpoint, P.pack(P.Message(P.Command(cmd, args or {}, token))),
                                  timeout)
    except TimeoutError:
        return None
    return P.unpack(frame).body
