"""MQTT sink through aiomqtt, in its own thread and asyncio loop behind a bounded drop-oldest queue.

Topics: commands go to ``topic`` (never retained: a client that connects late must not act on an old
command); ``status_topic`` (default ``<topic>/status``) holds a retained ``online`` / ``offline``, and the
broker publishes ``offline`` itself as the last will if the node dies without saying goodbye.

Staleness: a command older than ``expiry_s`` (wall clock since `publish`) is dropped before sending, and with
MQTT 5 each command carries a Message Expiry Interval of ``ceil(expiry_s)`` seconds (the protocol's unit),
so the broker does not deliver it to a queued (persistent-session) subscriber after that.

Broker loss: the loop reconnects with exponential backoff (``backoff_min_s`` doubling to ``backoff_max_s``);
meanwhile `publish` keeps returning at once, the queue keeps the newest ``queue`` commands and counts the
dropped ones. Payload: JSON ``{"t_us", "origin_ns", "wall_ns", "safe", "values", "names"}``.
Connection failures (refused, wrong password, TLS rejected) are logged (the first, each new reason, and then
the 2nd, 4th, 8th ... repeat), counted as ``connect_errors``, and the last one is in ``stats()["last_error"]``.

TLS (``tls = true``): the broker's certificate is validated against ``ca_certs`` (or the system trust
store) and its name against ``host``. ``tls_check_hostname = false`` relaxes only the name check (a broker
reached by an address its certificate does not name); ``tls_verify = false`` turns off validation
altogether and must be asked for explicitly. ``tls_insecure`` is the old name of the hostname-only relax.

Secrets: ``password_env = "VAR"`` (read from the environment) or ``password_file = "path"`` (first line)
keep the password out of the pipeline file, and so out of anything written from it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import ssl
import threading
import time
from typing import Any

from spikestream.registry import SINKS
from spikestream.sinks._base import DropOldest, Sink, control_record

log = logging.getLogger("spikestream.sink.mqtt")


def _password(password: str, password_env: str, password_file: str) -> str:
    """The one password source given: literal, environment variable or file (first line)."""
    if sum(bool(x) for x in (password, password_env, password_file)) > 1:
        raise ValueError("sink 'mqtt': give only one of password, password_env, password_file")
    if password_env:
        v = os.environ.get(password_env)
        if not v:
            raise ValueError(f"sink 'mqtt': password_env names {password_env!r}, which is not set")
        return v
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as f:
                v = f.readline().rstrip("\r\n")
            mode = os.stat(password_file).st_mode
        except OSError as e:
            raise ValueError(f"sink 'mqtt': cannot read password_file {password_file}: {e}") from None
        if not v:
            raise ValueError(f"sink 'mqtt': password_file {password_file} is empty")
        if mode & 0o077:
            log.warning("password_file %s is readable by other users (mode %o): chmod 600 it", password_file, mode & 0o777)
        return v
    return password


def _tls_context(ca_certs: str, certfile: str, keyfile: str, verify: bool, check_hostname: bool) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(cafile=ca_certs or None)
        if certfile:
            ctx.load_cert_chain(certfile, keyfile or None)
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"sink 'mqtt': TLS files (ca_certs {ca_certs!r}, certfile {certfile!r}): {e}") from None
    if not check_hostname or not verify:
        ctx.check_hostname = False
    if not verify:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@SINKS.register("mqtt")
class MqttSink(Sink):
    def __init__(self, *, host: str = "localhost", port: int = 1883, topic: str = "spikestream/control",
                 status_topic: str = "", qos: int = 1, expiry_s: float = 1.0, queue: int = 64,
                 client_id: str = "", username: str = "", password: str = "", password_env: str = "",
                 password_file: str = "", tls: bool = False, ca_certs: str = "", certfile: str = "",
                 keyfile: str = "", tls_verify: bool = True, tls_check_hostname: bool = True, tls_insecure: bool = False,
                 keepalive_s: int = 10, backoff_min_s: float = 0.1, backoff_max_s: float = 5.0,
                 timeout_s: float = 2.0, mqtt5: bool = True):
        if qos not in (0, 1, 2):
            raise ValueError(f"sink 'mqtt': qos must be 0, 1 or 2, got {qos!r}")
        if not isinstance(topic, str) or not topic or any(c in topic for c in "#+"):
            raise ValueError(f"sink 'mqtt': topic must be a plain topic name (no wildcards), got {topic!r}")
        if not (expiry_s > 0 and math.isfinite(expiry_s)):
            raise ValueError(f"sink 'mqtt': expiry_s must be a positive number of seconds, got {expiry_s!r}")
        if not (0 < backoff_min_s <= backoff_max_s):
            raise ValueError("sink 'mqtt': need 0 < backoff_min_s <= backoff_max_s")
        if not (0 < int(port) < 65536):
            raise ValueError(f"sink 'mqtt': bad port {port!r}")
        if password:
            log.warning("mqtt sink: a literal password in the pipeline file is copied into whatever is written from "
                        "it (`spikestream run` writes pipeline.resolved.json); use password_env or password_file")
        password = _password(password, password_env, password_file)
        if password and not username:
            raise ValueError("sink 'mqtt': a password needs a username")
        for name, v in (("tls_verify", tls_verify), ("tls_check_hostname", tls_check_hostname), ("tls_insecure", tls_insecure)):
            if not isinstance(v, bool):
                raise ValueError(f"sink 'mqtt': {name} must be true or false, got {v!r}")
        tls_context = None
        if tls:
            if not tls_verify:
                log.warning("mqtt sink: tls_verify = false: the broker's certificate is NOT validated (anyone on the "
                            "path can pose as %s)", host)
            tls_context = _tls_context(ca_certs, certfile, keyfile, tls_verify, tls_check_hostname and not tls_insecure)
        elif ca_certs or certfile:
            raise ValueError("sink 'mqtt': ca_certs/certfile given but tls is not true")
        self.host, self.port, self.topic, self.qos = host, int(port), topic, int(qos)
        self.status_topic = status_topic or f"{topic}/status"
        self.expiry_s = float(expiry_s)
        self.cfg = dict(client_id=client_id, username=username or None, password=password or None,
                        tls_context=tls_context, keepalive=int(keepalive_s), timeout=float(timeout_s), mqtt5=mqtt5)
        self.backoff = (float(backoff_min_s), float(backoff_max_s))
        self.queue = DropOldest(int(queue))
        self.counts = {"sent": 0, "expired": 0, "failed": 0, "connects": 0, "disconnects": 0, "connect_errors": 0}
        self.connected = threading.Event()
        self._stop = threading.Event()
        self.last_error = ""
        self._same = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name="spikestream-mqtt", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ node side (never blocks)
    def publish(self, values, t_us, safe=False, names=None, origin_ns=0) -> None:
        rec = control_record(values, t_us, safe, names, origin_ns)
        if self.queue.put((time.monotonic(), rec)):
            self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # loop closed while stopping
                pass

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "dropped": self.queue.dropped, "queued": len(self.queue),
                "connected": self.connected.is_set(), "last_error": self.last_error}

    def close(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self.queue.close()
        self._poke()
        self._thread.join(timeout)

    # ------------------------------------------------------------------ I/O thread
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    def _client(self):
        import aiomqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        c = self.cfg
        proto = aiomqtt.ProtocolVersion.V5 if c["mqtt5"] else aiomqtt.ProtocolVersion.V311
        will = aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True)
        self._props = None
        if c["mqtt5"]:
            self._props = Properties(PacketTypes.PUBLISH)
            self._props.MessageExpiryInterval = max(1, math.ceil(self.expiry_s))
        return aiomqtt.Client(self.host, self.port, identifier=c["client_id"] or None, username=c["username"],
                              password=c["password"], protocol=proto, will=will, keepalive=c["keepalive"],
                              timeout=c["timeout"], tls_context=c["tls_context"])

    async def _main(self) -> None:
        import aiomqtt

        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        delay = self.backoff[0]
        while not self._stop.is_set():
            try:
                async with self._client() as client:
                    await client.publish(self.status_topic, b"online", qos=1, retain=True)
                    self.connected.set()
                    self.counts["connects"] += 1
                    log.info("mqtt sink %s:%d: connected%s", self.host, self.port,
                             " again" if self.counts["connects"] > 1 else "")
                    delay = self.backoff[0]
                    await self._pump(client)
                    await client.publish(self.status_topic, b"offline", qos=1, retain=True)  # clean goodbye
                    return
            except (aiomqtt.MqttError, OSError, asyncio.TimeoutError) as e:
                self._connect_error(e)
            except Exception as e:  # never let the I/O thread die: count, back off, retry
                self.counts["failed"] += 1
                self._connect_error(e)
            if self.connected.is_set():
                self.connected.clear()
                self.counts["disconnects"] += 1
            await self._sleep(delay)
            delay = min(2 * delay, self.backoff[1])

    def _connect_error(self, e: BaseException) -> None:
        """Count and log a failed or lost connection: each new reason at once, repeats at 2, 4, 8 ... ."""
        text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        self.counts["connect_errors"] += 1
        new = text != self.last_error
        self._same = 1 if new else self._same + 1
        self.last_error = text
        if new or self._same & (self._same - 1) == 0:
            log.warning("mqtt sink %s:%d (%s): %s%s", self.host, self.port, "connected before" if self.connected.is_set()
                        else "connecting", text, f" (x{self._same})" if self._same > 1 else "")

    async def _sleep(self, s: float) -> None:
        end = time.monotonic() + s
        while not self._stop.is_set() and (left := end - time.monotonic()) > 0:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                pass
        self._drop_expired()

    def _drop_expired(self) -> None:
        """While disconnected: commands past their expiry are counted and dropped."""
        limit = time.monotonic() - self.expiry_s
        self.counts["expired"] += self.queue.drop_where(lambda item: item[0] < limit)

    async def _pump(self, client) -> None:
        while True:
            items = self.queue.get_all(timeout=0)
            if not items:
                if self._stop.is_set():
                    return
                self._wake.clear()
                if len(self.queue):
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
                continue
            for i, (t_put, rec) in enumerate(items):
                if time.monotonic() - t_put > self.expiry_s:
                    self.counts["expired"] += 1
                    continue
                try:
                    await client.publish(self.topic, json.dumps(rec, separators=(",", ":")).encode(), qos=self.qos,
                                         retain=False, properties=self._props, timeout=self.cfg["timeout"])
                    self.counts["sent"] += 1
                except Exception:
                    self.counts["failed"] += 1
                    self.queue.requeue_front(items[i + 1:])  # in front of newer ones; then reconnect
                    raise
