"""Helpers shared by the runtime tests: wait on a condition, a free endpoint, a control-channel command."""

import functools
import os

import zmq

from spikestream import protocol as P
from spikestream import testing, transport


#: `spikestream.testing.wait_for`, polling every 50 ms (a condition here is often a control-channel request).
wait_for = functools.partial(testing.wait_for, every=0.05)


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
