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


def node_table(name, kind, *, inputs=None, outputs=None, control=None, params=None, extra=""):
    """One ``[nodes.NAME]`` table of a pipeline file, as text: `inputs` / `outputs` map a port to an endpoint
    or "node.port" (an input also to a list of them), `params` is the inline table's body ("rate_hz = 200"),
    `extra` more lines of the table (hwm, state, runtime keys)."""

    def value(v):
        return "[" + ", ".join(f'"{x}"' for x in v) + "]" if isinstance(v, (list, tuple)) else f'"{v}"'

    lines = [f"[nodes.{name}]", f'kind = "{kind}"']
    for key, ports in (("inputs", inputs), ("outputs", outputs)):
        if ports:
            lines.append(f"{key} = {{ " + ", ".join(f"{p} = {value(v)}" for p, v in ports.items()) + " }")
    if control:
        lines.append(f'control = "{control}"')
    if params is not None:
        lines.append(f"params = {{ {params} }}")
    if extra:
        lines.append(extra.strip("\n"))
    return "\n".join(lines) + "\n"


def write_pipeline(tmp_path, *tables, name="p.toml"):
    """The tables (text) as the pipeline file tmp_path/NAME; returns its path."""
    p = tmp_path / name
    p.write_text("".join(tables))
    return p


def command(endpoint, cmd, args=None, timeout=1.0):
    """A command's reply body, or None when the node does not answer in time."""
    try:
        token = os.environ.get("SPIKESTREAM_CONTROL_TOKEN", "")  # conftest gives the tests' nodes one
        frame = transport.request(zmq.Context.instance(), endpoint, P.pack(P.Message(P.Command(cmd, args or {}, token))),
                                  timeout)
    except TimeoutError:
        return None
    return P.unpack(frame).body


def node_pids(supervisor_pid):
    """The node processes of a running `spikestream run`: its children, and the children of its fork server
    (runtime/forkserver.py) in place of that server."""

    def children(pid):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    out = []
    for k in children(supervisor_pid):
        try:
            with open(f"/proc/{k}/cmdline", "rb") as f:
                server = b"spikestream.runtime.forkserver" in f.read()
        except OSError:
            continue
        out.extend(children(k) if server else [k])
    return out
