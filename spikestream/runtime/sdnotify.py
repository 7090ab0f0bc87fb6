"""systemd's readiness and watchdog protocol (sd_notify), without libsystemd or a Python dependency.

Under a ``Type=notify`` unit systemd passes the path of a datagram socket in $NOTIFY_SOCKET; the service
sends it newline-separated ``KEY=VALUE`` lines: ``READY=1`` once it is up (units ordered after it start
only then), ``STATUS=...`` (shown by ``systemctl status``), ``WATCHDOG=1`` at least every $WATCHDOG_USEC
microseconds when ``WatchdogSec=`` is set (else systemd kills and restarts it: a hung process is caught,
not only a dead one), ``STOPPING=1`` when it begins to stop. Everything here is a no-op returning False
outside systemd (no $NOTIFY_SOCKET), so callers need no checks of their own. See docs/deploy.md.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("spikestream.sdnotify")

#: What systemd sets for the service's main process alone; a child must not inherit it (see `child_env`).
ENV_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _address(raw: str) -> str | bytes | None:
    """The socket address: an absolute path, or an abstract socket ('@name' is '\\0name' to the kernel)."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw if raw.startswith("/") else None


def notify(state: str) -> bool:
    """Send `state` (one or more ``KEY=VALUE`` lines) to $NOTIFY_SOCKET. True if sent; False outside systemd
    or on any error (a notification is never worth failing the caller for: it is logged at debug level)."""
    raw = os.environ.get("NOTIFY_SOCKET")
    if not raw:
        return False
    addr = _address(raw)
    if addr is None:
        log.debug("NOTIFY_SOCKET=%r: not a path or an abstract socket; ignored", raw)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(state.encode(), addr)
        return True
    except OSError as e:
        log.debug("sd_notify %r to %r failed: %s", state, raw, e)
        return False


def ready(status: str | None = None) -> bool:
    """READY=1: start-up is complete (with an optional STATUS= line)."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def stopping(status: str | None = None) -> bool:
    """STOPPING=1: the service is stopping by itself or on request; the watchdog no longer applies and the
    stop is bounded by TimeoutStopSec= instead."""
    return notify("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))


def status(text: str) -> bool:
    """STATUS=...: one line for `systemctl status` (newlines would start new fields, so they become spaces)."""
    return notify("STATUS=" + text.replace("\n", " "))


def watchdog_interval_s() -> float | None:
    """The watchdog timeout in seconds from $WATCHDOG_USEC, or None: unset, not a positive integer, or meant
    for another process ($WATCHDOG_PID names the process systemd watches, like sd_watchdog_enabled)."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        n = int(usec or "")
    except ValueError:
        return None
    return n / 1e6 if n > 0 else None


def child_env(environ: dict[str, str]) -> dict[str, str]:
    """`environ` without the notify variables: a child process that inherited them would send its own
    READY=1/WATCHDOG=1 to the unit's socket (refused under NotifyAccess=main, with a log line each time)."""
    return {k: v for k, v in environ.items() if k not in ENV_VARS}


class Heartbeat:
    """WATCHDOG=1 at half the watchdog interval (what sd_watchdog_enabled(3) advises), from a loop that calls
    `beat()` every iteration: a loop that stops going round stops the pings, and systemd kills the process.
    Most calls do one clock read and a comparison; without a watchdog, only an attribute test."""

    def __init__(self, interval_s: float | None = None):
        timeout = watchdog_interval_s() if interval_s is None else interval_s
        self.period_s = timeout / 2 if timeout else None
        self._next = 0.0

    def beat(self) -> bool:
        """Send WATCHDOG=1 if half the interval has passed since the last one. True when one was sent."""
        if self.period_s is None:
            return False
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.period_s
        return notify("WATCHDOG=1")
