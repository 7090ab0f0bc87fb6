"""ZeroMQ sockets: endpoints, high-water marks, linger. Bytes in, bytes out; nothing here knows messages.

Convention: an output port binds a PUB socket at its endpoint; an input port connects a SUB socket to one
or more endpoints. Stats flow the other way (every node's PUB connects to the collector's bound SUB), so
a node can start before or after the collector. A control channel is a REP socket bound by the node.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import zmq


@dataclass(frozen=True, slots=True)
class Curve:
    """CURVE keys for a pipeline: every socket that binds is a server, every socket that connects a client.
    Links are encrypted, and a server admits only clients whose public key is in `authorized` (checked by
    a ZAP authenticator, `start_authenticator`)."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes
    authorized: str  # folder of admitted client public keys (*.key)


def make_curve_keys(key_dir: str | os.PathLike) -> Curve:
    """Create a server and a client key pair in `key_dir` (secret files readable by the owner only) and
    admit the client: its public key goes into `key_dir/authorized`."""
    import shutil

    import zmq.auth

    d = os.fspath(key_dir)
    os.makedirs(os.path.join(d, "authorized"), exist_ok=True)
    for name in ("server", "client"):
        _, secret = zmq.auth.create_certificates(d, name)
        os.chmod(secret, 0o600)
    shutil.copy(os.path.join(d, "client.key"), os.path.join(d, "authorized", "client.key"))
    return load_curve_keys(d)


def load_curve_keys(key_dir: str | os.PathLike) -> Curve:
    """Read the keys `make_curve_keys` wrote; a missing or malformed file is a ValueError naming it."""
    import zmq.auth

    d = os.fspath(key_dir)
    keys = {}
    for name in ("server", "client"):
        path = os.path.join(d, f"{name}.key_secret")
        try:
            pub, sec = zmq.auth.load_certificate(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"CURVE keys: cannot read {path}: {e}") from None
        if not sec:
            raise ValueError(f"CURVE keys: {path} holds no secret key")
        keys[name] = (pub, sec)
    auth = os.path.join(d, "authorized")
    if not os.path.isdir(auth):
        raise ValueError(f"CURVE keys: no folder of authorized client keys at {auth}")
    return Curve(keys["server"][0], keys["server"][1], keys["client"][0], keys["client"][1], auth)


def start_authenticator(ctx: zmq.Context, curve: Curve):
    """Admit only the authorized client keys on this context's CURVE servers. Stop it when done."""
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=curve.authorized)
    return auth


@dataclass(frozen=True, slots=True)
class SocketOptions:
    hwm: int = 1000  # messages queued per peer before ZeroMQ drops (PUB) -- bounded, never unlimited
    linger_ms: int = 500  # how long close() may wait to flush
    max_message_bytes: int = 16 * 1024 * 1024  # ZeroMQ refuses larger frames before we ever see them
    curve: Curve | None = None  # encrypt and authenticate every link


def check_endpoint(endpoint: str) -> str:
    """Validate an endpoint string (tcp://host:port, ipc://path, inproc://name); return it."""
    if not isinstance(endpoint, str):
        raise ValueError(f"endpoint must be a string, got {endpoint!r}")
    u = urlparse(endpoint)
    if u.scheme == "tcp":
        if not u.hostname or u.port is None:
            raise ValueError(f"tcp endpoint needs host and port: {endpoint!r}")
    elif u.scheme == "ipc":
        if not endpoint[len("ipc://"):]:
            raise ValueError(f"ipc endpoint needs a path: {endpoint!r}")
    elif u.scheme != "inproc":
        raise ValueError(f"endpoint {endpoint!r}: scheme must be tcp, ipc or inproc")
    return endpoint


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (used to resolve ``tcp://host:auto`` endpoints), chosen below the
    ephemeral range when there is room: every outgoing connection (ZeroMQ's reconnect attempts to a dead
    peer, ten a second) takes its source port from that range, and could take this one before the node that
    was given it binds it."""
    lo, _ = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(100 if lo > 20_000 else 0):
        port = rng.randrange(10_000, lo)
        if port in _handed_out:  # free now, but promised to an endpoint that has not bound it yet
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return _hand_out(port)
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            return _hand_out(port)
    raise OSError("no free TCP port found")


_handed_out: dict[int, None] = {}  # ports this process gave out, newest last (bounded)


def _hand_out(port: int) -> int:
    _handed_out[port] = None
    if len(_handed_out) > 4096:
        del _handed_out[next(iter(_handed_out))]
    return port


def _common(sock: zmq.Socket, opt: SocketOptions, server: bool) -> None:
    sock.setsockopt(zmq.LINGER, opt.linger_ms)
    sock.setsockopt(zmq.MAXMSGSIZE, opt.max_message_bytes)
    c = opt.curve
    if c is not None:
        if server:
            sock.curve_secretkey, sock.curve_publickey, sock.curve_server = c.server_secret, c.server_public, True
        else:
            sock.curve_serverkey = c.server_public
            sock.curve_secretkey, sock.curve_publickey = c.client_secret, c.client_public


def _prepare_ipc(endpoint: str) -> None:
    if endpoint.startswith("ipc://"):
        d = os.path.dirname(endpoint[len("ipc://"):])
        if d:
            os.makedirs(d, exist_ok=True)


def pub(ctx: zmq.Context, endpoint: str, opt: SocketOptions = SocketOptions(), bind: bool = True,
        xpub: bool = False) -> zmq.Socket:
    """A publisher. With ``xpub`` the socket also delivers (un)subscription frames to `recv`, so a node
    can tell whether anyone is listening yet (see `subscription_delta`)."""
    s = ctx.socket(zmq.XPUB if xpub else zmq.PUB)
    _common(s, opt, server=bind)
    s.setsockopt(zmq.SNDHWM, opt.hwm)
    if bind:
        _prepare_ipc(endpoint)
        _bind_or_close(s, endpoint)
    else:
        s.connect(endpoint)
    return s


def _bind_or_close(s: zmq.Socket, endpoint: str) -> None:
    try:
        s.bind(endpoint)
    except zmq.ZMQError:
        s.close(linger=0)
        raise


def subscription_delta(frame: bytes) -> int:
    """+1 for a subscribe frame read from an XPUB socket, -1 for an unsubscribe."""
    return 1 if frame[:1] == b"\x01" else -1 if frame[:1] == b"\x00" else 0


def sub(ctx: zmq.Context, endpoints: list[str], opt: SocketOptions = SocketOptions(), bind: bool = False) -> zmq.Socket:
    s = ctx.socket(zmq.SUB)
    _common(s, opt, server=bind)
    s.setsockopt(zmq.RCVHWM, opt.hwm)
    # a restarted upstream is rejoined within 20 ms (ZeroMQ's default retries every 100 ms): part of a node's
    # time back after kill -9; on loopback or a LAN a connect attempt every 20 ms costs nothing
    s.setsockopt(zmq.RECONNECT_IVL, SUB_RECONNECT_MS)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    for ep in endpoints:
        if bind:
            _prepare_ipc(ep)
            s.bind(ep)
        else:
            s.connect(ep)
    return s


SUB_RECONNECT_MS = 20

#: A control request is small; a larger frame makes ZeroMQ close that requester's connection (only it).
MAX_COMMAND_BYTES = 1 << 20


def watch_disconnects(sock: zmq.Socket) -> zmq.Socket:
    """A socket that reports the connections `sock` loses, and which of them ZeroMQ will retry by itself
    (read it with `connection_events`).

    Why: a frame over MAXMSGSIZE makes libzmq (4.3, measured) close that connection as a protocol error
    and, unlike a peer that went away or a failed handshake (DISCONNECTED then CONNECT_RETRIED), never
    reconnect it: a SUB would stay deaf for good. The loop reconnects such an endpoint itself. Close the
    returned socket before the context is terminated."""
    return sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED)


def connection_events(monitor: zmq.Socket) -> list[tuple[int, str]]:
    """(event, endpoint) pairs waiting on a `watch_disconnects` socket."""
    from zmq.utils.monitor import recv_monitor_message

    out = []
    while monitor.poll(0):
        ev = recv_monitor_message(monitor)
        out.append((ev["event"], ev["endpoint"].decode(errors="replace")))
    return out


def rep(ctx: zmq.Context, endpoint: str, opt: SocketOptions = SocketOptions()) -> zmq.Socket:
    """A control channel's REP socket. Requests over `MAX_COMMAND_BYTES` never reach it."""
    s = ctx.socket(zmq.REP)
    _common(s, opt, server=True)
    s.setsockopt(zmq.MAXMSGSIZE, min(opt.max_message_bytes, MAX_COMMAND_BYTES))
    _prepare_ipc(endpoint)
    _bind_or_close(s, endpoint)
    return s


def request(ctx: zmq.Context, endpoint: str, frame: bytes, timeout_s: float = 2.0, curve: Curve | None = None) -> bytes:
    """One request/reply round trip with a deadline (for `spikestream cmd`). Raises TimeoutError."""
    s = ctx.socket(zmq.REQ)
    _common(s, SocketOptions(linger_ms=0, curve=curve), server=False)
    try:
        s.connect(endpoint)
        s.send(frame)
        if not s.poll(int(timeout_s * 1000)):
            raise TimeoutError(f"no reply from {endpoint} within {timeout_s} s")
        return s.recv()
    finally:
        s.close()
