"""What a node is: named ports, parameters, and four callbacks. How it runs lives in `runtime.loop`."""

from __future__ import annotations

import logging
from typing import Any, Callable, ClassVar

import numpy as np

from spikestream.protocol import Body
from spikestream.registry import NODES

Emit = Callable[[str, Body, int, int], None]


def register_node(kind: str):
    """Class decorator: make a `Node` subclass available to pipeline files as ``kind = "..."``."""

    def deco(cls: type[Node]) -> type[Node]:
        cls.kind = kind
        return NODES.register(kind)(cls)

    return deco


class Node:
    """Base class for every node program.

    Subclasses declare ``inputs`` (port -> accepted message kinds) and ``outputs`` (port -> kind sent),
    build their stages in `setup`, and react in `on_message` / `poll` / `on_command`. They never touch
    sockets: `emit` hands a body to the runtime, which stamps the envelope and sends it.
    """

    kind: ClassVar[str] = ""
    inputs: ClassVar[dict[str, tuple[str, ...]]] = {}
    outputs: ClassVar[dict[str, str]] = {}
    #: The node's own control commands (beyond the runtime's ping, stats, help, save_state, load_state, stop):
    #: name -> its arguments and what it does, as `spikestream cmd ENDPOINT help` shows them.
    COMMANDS: ClassVar[dict[str, str]] = {}
    #: Wire ports the pipeline may leave unconnected (a source's optional ground-truth output, say).
    optional: ClassVar[frozenset[str]] = frozenset()
    #: The pipeline's CURVE key folder (set by the runtime before `setup`), for a node that opens sockets of
    #: its own (a zmq_pub sink): they encrypt and authenticate as the pipeline's links do.
    curve_keys: str | None = None

    def __init__(self, name: str, params: dict[str, Any], emit: Emit | None = None,
                 log: logging.Logger | None = None):
        self.name = name
        self.params = dict(params)
        self._emit = emit or (lambda port, body, t_us, origin_ns: None)
        self.log = log or logging.getLogger(f"spikestream.node.{name}")
        #: Counters a node may add to its stats (the runtime adds its own).
        self.counters: dict[str, int | float] = {}
        self._rejections = None  # the rate-limited log of `reject`, made on first use

    # ------------------------------------------------------------------ called by the node
    def emit(self, port: str, body: Body, t_us: int, origin_ns: int) -> None:
        self._emit(port, body, int(t_us), int(origin_ns))

    def count(self, key: str, n: int | float = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def reject(self, key: str, why: str) -> None:
        """Count something refused under `key` and log it, each key at most once a second (a bad stream
        cannot flood the log; the line says how many went unlogged meanwhile)."""
        self.count(key)
        if self._rejections is None:
            from spikestream.runtime.stats import RateLimitedLog

            self._rejections = RateLimitedLog(self.log)
        self._rejections.warning(key, f"{self.name}: {why} ({key}: {self.counters[key]:g} so far)")

    # ------------------------------------------------------------------ called by the runtime
    def setup(self) -> None:
        """Build stages from `self.params`. Raise ValueError with a clear text for bad parameters."""

    def warm(self) -> None:
        """Load every kernel the node's messages will need (Numba compiles one not in its cache) by running the
        node's own code once on scratch data and scratch copies of its stages (`spikestream.runtime.warm`),
        never on its real state. The runtime calls it after `setup` and a restored state, before the node
        reports ready and takes its first message; anything the node emits meanwhile is not sent."""

    def on_message(self, port: str, msg) -> None:
        """One validated inbound message (a `protocol.Message`) on input `port`."""

    def poll(self, now_ns: int) -> None:
        """Once per loop tick: sources produce their batch here, watchdogs check here. Must not block."""

    def wake_at_ns(self) -> int | None:
        """Wall-clock time (``time.time_ns()``) at which `poll` is next wanted, e.g. a paced source's next
        sample; None lets the loop wait a whole tick. The loop never sleeps past this."""
        return None

    def on_command(self, cmd: str, args: dict[str, Any]) -> Any:
        """A control-channel request. Return a msgpack-able result; raise ValueError to refuse it."""
        raise ValueError(f"node kind {self.kind!r} has no command {cmd!r}")

    def get_state(self) -> dict[str, np.ndarray]:
        """The node's complete dynamic state as named arrays (empty for a stateless node)."""
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if state:
            raise ValueError(f"node kind {self.kind!r} keeps no state")

    def on_stop(self) -> None:
        """Told to stop (the `stop` command, SIGTERM): called once, before the loop drains its inputs. An
        output to an actuator sends its safe value here, not after the drain."""

    def close(self) -> None:
        """Flush and release resources; called once on stop."""

    @property
    def finished(self) -> bool:
        """A finite source (a file replay) returns True when it has nothing more to send."""
        return False
