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
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import threading
import time
from typing import Any

from spikestream.registry import SINKS
from spikestream.sinks._base import DropOldest, Sink, control_record


@SINKS.register("mqtt")
class MqttSink(Sink):
    def __init__(self, *, host: str = "localhost", port: int = 1883, topic: str = "spikestream/control",
                 status_topic: str = "", qos: int = 1, expiry_s: float = 1.0, queue: int = 64,
                 client_id: str = "", username: str = "", password: str = "", tls: bool = False,
                 ca_certs: str = "", certfile: str = "", keyfile: str = "", tls_insecure: bool = False,
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
        if password and not username:
            raise ValueError("sink 'mqtt': a password needs a username")
        self.host, self.port, self.topic, self.qos = host, int(port), topic, int(qos)
        self.status_topic = status_topic or f"{topic}/status"
        self.expiry_s = float(expiry_s)
        self.cfg = dict(client_id=client_id, username=username or None, password=password or None, tls=tls,
                        ca_certs=ca_certs or None, certfile=certfile or None, keyfile=keyfile or None,
                        tls_insecure=tls_insecure, keepalive=int(keepalive_s), timeout=float(timeout_s), mqtt5=mqtt5)
        self.backoff = (float(backoff_min_s), float(backoff_max_s))
        self.queue = DropOldest(int(queue))
        self.counts = {"sent": 0, "expired": 0, "failed": 0, "connects": 0, "disconnects": 0}
        self.connected = threading.Event()
        self._stop = threading.Event()
        self.last_error = ""
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
                "connected": self.connected.is_set()}

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
        tls_params = None
        tls_context = None
        if c["tls"]:
            if c["certfile"] or c["ca_certs"]:
                tls_params = aiomqtt.TLSParameters(ca_certs=c["ca_certs"], certfile=c["certfile"], keyfile=c["keyfile"],
                                                   cert_reqs=ssl.CERT_NONE if c["tls_insecure"] else ssl.CERT_REQUIRED)
            else:
                tls_context = ssl.create_default_context()
        proto = aiomqtt.ProtocolVersion.V5 if c["mqtt5"] else aiomqtt.ProtocolVersion.V311
        will = aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True)
        self._props = None
        if c["mqtt5"]:
            self._props = Properties(PacketTypes.PUBLISH)
            self._props.MessageExpiryInterval = max(1, math.ceil(self.expiry_s))
        return aiomqtt.Client(self.host, self.port, identifier=c["client_id"] or None, username=c["username"],
                              password=c["password"], protocol=proto, will=will, keepalive=c["keepalive"],
                              timeout=c["timeout"], tls_params=tls_params, tls_context=tls_context,
                              tls_insecure=c["tls_insecure"] if c["tls"] else None)

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
                    delay = self.backoff[0]
                    await self._pump(client)
                    await client.publish(self.status_topic, b"offline", qos=1, retain=True)  # clean goodbye
                    return
            except (aiomqtt.MqttError, OSError, asyncio.TimeoutError):
                pass
            except Exception as e:  # never let the I/O thread die: count, back off, retry
                self.counts["failed"] += 1
                self.last_error = repr(e)
            if self.connected.is_set():
                self.connected.clear()
                self.counts["disconnects"] += 1
            await self._sleep(delay)
            delay = min(2 * delay, self.backoff[1])

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
