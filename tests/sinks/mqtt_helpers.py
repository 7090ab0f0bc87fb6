"""A Mosquitto broker on a free port, and a paho subscriber that waits on conditions (no sleeps)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading

import pytest

from spikestream.testing import wait_for


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def need_mosquitto() -> str:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        msg = "mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients (make system-deps)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


class Broker:
    def __init__(self, tmp_path, extra_conf: str = ""):
        self.exe = need_mosquitto()
        self.port = free_port()
        self.conf = tmp_path / f"mosquitto-{self.port}.conf"
        user = "user root\n" if os.geteuid() == 0 else ""  # keep read access to files under tmp_path
        self.conf.write_text(f"{user}listener {self.port} 127.0.0.1\npersistence false\n{extra_conf or 'allow_anonymous true'}\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(up, 10, "mosquitto to listen")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def password_broker(tmp_path, user: str = "robot", password: str = "s3cret") -> Broker:
    """A started broker that admits only `user` with `password` (a mosquitto_passwd file under tmp_path)."""
    need_mosquitto()
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), user, password], check=True, capture_output=True)
    os.chmod(pw, 0o600)
    return Broker(tmp_path, extra_conf=f"allow_anonymous false\npassword_file {pw}").start()


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto broker on a free port for one test (the test modules import this fixture)."""
    b = Broker(tmp_path).start()
    yield b
    b.stop()


class Subscriber:
    """paho MQTT 5 client collecting (topic, payload, retain) on a background thread."""

    def __init__(self, port: int, topics: list[str], client_id: str = "", clean_start: bool = True,
                 session_expiry: int = 0):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.msgs: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.topics = topics
        props = None
        if session_expiry:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = session_expiry
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in self.topics])
        self.c.on_subscribe = lambda c, u, mid, rc, p: self.subscribed.set()
        self.c.on_message = self._on_msg
        self.c.connect("127.0.0.1", port, keepalive=5, clean_start=clean_start, properties=props)
        self.c.loop_start()
        wait_for(self.subscribed.is_set, 10, "the subscription")

    def _on_msg(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, bytes(m.payload), bool(m.retain)))

    def on(self, topic: str) -> list[tuple[bytes, bool]]:
        with self.lock:
            return [(p, r) for t, p, r in self.msgs if t == topic]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()
