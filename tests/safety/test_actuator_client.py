"""The safety contract end to end (docs/safety.md): a real output node process (spikestream.runtime) fed by a
real upstream process over ZeroMQ, and the actuator-side `ActuatorClient` reading it every tick. After each
fault the client must report the safe value within timeout + one tick; after `stop` and SIGTERM the node
itself must have said so (a safe Control message), after SIGKILL the client's disconnect monitor does."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import zmq

from spikestream import protocol as P
from spikestream.actuator import ActuatorClient
from spikestream.transport import free_tcp_port, request

TIMEOUT_S, TICK_S = 0.3, 0.01
NODE_SAFE = [0.25, -0.5]
CLIENT_SAFE = [0.0, 0.0]

UPSTREAM = """
import signal, sys, time, numpy as np, zmq
from spikestream.protocol import Message, Spikes, pack
s = zmq.Context().socket(zmq.PUB); s.bind(sys.argv[1])
lag = [0]  # SIGUSR1: from now on every packet is stamped 3.4 s old (an overloaded pipeline's backlog)
signal.signal(signal.SIGUSR1, lambda *a: lag.__setitem__(0, 3_400_000_000))
print("up", flush=True)
rng = np.random.default_rng(0); k = 0
while True:
    t0 = k * 10_000
    idx = np.sort(rng.integers(0, 8, 5)).astype(np.uint32)
    s.send(pack(Message(Spikes(t0, t0 + 10_000, 8, idx, np.full(5, t0, np.int64)), "snn.out", k, t0,
                        time.time_ns() - lag[0])))
    k += 1
    time.sleep(0.01)
"""

NODE = """
import sys
import spikestream.nodes
from spikestream.runtime.loop import NodeRunner
from spikestream.runtime.pipeline import NodeSpec
spec = NodeSpec("out", "control_output", inputs={{"in": [sys.argv[1]]}}, outputs={{"out": sys.argv[2]}},
                control=sys.argv[3],
                params={{"decoder": {{"kind": "linear_rls", "n_inputs": 8, "n_outputs": 2}},
                         "safety": {{"lo": -1.0, "hi": 1.0, "timeout_s": {timeout}, "safe_value": {safe}}},
                         "calibrate_s": 0.0, "safe_repeat_s": 0.05, "max_age_ms": 1000.0}},
                tick_ms=10.0, start_wait_s=10.0)
sys.exit(NodeRunner(spec).run(duration_s=120))
"""


def _read_until(client, pred, timeout_s, what):
    """The actuator's loop: read every tick until `pred(reading)`; returns (reading, monotonic time)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        r = client.read()
        if pred(r):
            return r, time.monotonic()
        time.sleep(TICK_S)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextlib.contextmanager
def _rig(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    up_ep, out_ep, ctl_ep = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(3))
    (tmp_path / "up.py").write_text(UPSTREAM)
    (tmp_path / "node.py").write_text(textwrap.dedent(NODE.format(timeout=TIMEOUT_S, safe=NODE_SAFE)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    up = subprocess.Popen([sys.executable, str(tmp_path / "up.py"), up_ep], stdout=subprocess.PIPE, text=True, env=env)
    node = subprocess.Popen([sys.executable, str(tmp_path / "node.py"), up_ep, out_ep, ctl_ep], env=env)
    client = ActuatorClient(out_ep, 2, safe_value=CLIENT_SAFE, timeout_s=TIMEOUT_S)
    try:
        assert up.stdout.readline().strip() == "up"
        _read_until(client, lambda r: r.reason == "live", 60, "live commands")
        for _ in range(20):  # a steady live stream
            _read_until(client, lambda r: r.reason == "live", 5, "live commands")
        yield up, node, ctl_ep, client
    finally:
        client.close()
        for p in (up, node):
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def rig(tmp_path):
    with _rig(tmp_path) as r:
        yield r


@pytest.mark.parametrize("fault", ["output_sigkill", "output_stop", "output_sigterm", "output_hung", "upstream_sigkill",
                                   "upstream_stale"])
def test_actuator_sees_the_safe_value_within_timeout_plus_one_tick(rig, fault):
    _fault_then_safe(rig, fault)


def test_client_follows_a_restarted_output(rig, tmp_path):
    """SIGKILL, then the supervisor's restart on the same endpoint: the actuator is safe meanwhile and live
    commands resume on the new connection (the disconnect does not stick)."""
    up, node, ctl_ep, client = rig
    node.send_signal(signal.SIGKILL)
    node.wait(10)
    _read_until(client, lambda r: r.reason == "disconnected", 5, "the disconnect")
    again = subprocess.Popen(node.args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        r, _ = _read_until(client, lambda r: r.reason == "live", 60, "live commands from the restarted output")
        assert not r.safe and client.counts["connects"] >= 2 and client.counts["disconnects"] >= 1
    finally:
        again.kill()
        again.wait()


@pytest.mark.slow
def test_every_time_over_repeated_faults(tmp_path):
    """Five fresh rigs per fault of the output itself: the bound holds every time (prints worst case)."""
    worst = {}
    for fault in ("output_sigkill", "output_stop", "output_sigterm"):
        for i in range(5):
            with _rig(tmp_path / f"{fault}{i}") as r:
                worst[fault] = max(worst.get(fault, 0.0), _fault_then_safe(r, fault))
    print("\nworst of 5: " + ", ".join(f"{f} {t * 1e3:.0f} ms" for f, t in worst.items()))


def _fault_then_safe(rig, fault) -> float:
    up, node, ctl_ep, client = rig
    safe_before = client.counts["safe_msgs"]
    t_fault = time.monotonic()
    if fault == "output_sigkill":
        node.send_signal(signal.SIGKILL)
    elif fault == "output_sigterm":
        node.send_signal(signal.SIGTERM)
    elif fault == "output_hung":
        node.send_signal(signal.SIGSTOP)  # alive, socket open, silent
    elif fault == "upstream_stale":
        up.send_signal(signal.SIGUSR1)
    elif fault == "output_stop":
        ctx = zmq.Context()
        reply = P.unpack(request(ctx, ctl_ep, P.pack(P.Message(P.Command("stop"))), timeout_s=5.0))
        ctx.term()
        assert reply.body.ok
    else:
        up.send_signal(signal.SIGKILL)
    r, t_safe = _read_until(client, lambda r: r.safe, 10, "the safe value")
    took = t_safe - t_fault
    print(f"\n{fault}: actuator safe after {took * 1e3:.1f} ms ({r.reason}; timeout {TIMEOUT_S * 1e3:.0f} ms, "
          f"tick {TICK_S * 1e3:.0f} ms)")
    assert took <= TIMEOUT_S + TICK_S + 0.25  # + process scheduling slack on a shared 2-core machine
    if fault == "output_sigkill":
        assert r.reason == "disconnected" and np.array_equal(r.values, CLIENT_SAFE)
        assert took < TIMEOUT_S  # the monitor acts before the client's own watchdog would
    elif fault in ("output_stop", "output_sigterm"):
        # the node said it before going: a safe Control message reached the actuator
        _read_until(client, lambda r: client.counts["safe_msgs"] > safe_before, 5, "the node's safe message")
        assert node.wait(15) in (0, 143)  # 143: the runtime's "stopped on request" (EX_STOPPED)
    elif fault == "output_hung":
        assert r.reason in ("timeout", "disconnected") and np.array_equal(r.values, CLIENT_SAFE)
        # (left stopped: the rig's SIGKILL ends it; resumed, it would rightly send live commands again)
    else:
        assert r.reason == "safe" and np.array_equal(r.values, NODE_SAFE)
    if fault == "upstream_stale":  # input keeps arriving, 3.4 s old: not one command from it reaches the actuator
        n0 = client.counts["received"]
        _read_until(client, lambda r: client.counts["received"] >= n0 + 5, 5, "the node's repeated safe value")
        for _ in range(50):  # half a second of actuator ticks: safe every one
            assert client.read().safe
            time.sleep(TICK_S)
    r = client.read()  # and it stays safe
    assert r.safe
    return took


def test_client_watchdog_and_bad_frames():
    """No publisher at all, junk, wrong sizes: the client never applies anything but the safe value."""
    port = free_tcp_port()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind(f"tcp://127.0.0.1:{port}")
    now = [100.0]
    c = ActuatorClient(f"tcp://127.0.0.1:{port}", 2, safe_value=[1.0, 2.0], timeout_s=0.2, clock=lambda: now[0])
    try:
        r = c.read()
        assert r.safe and r.reason == "waiting" and np.array_equal(r.values, [1.0, 2.0])
        good = P.pack(P.Message(P.Control(np.array([0.5, 0.6])), "out.out", 0, 10))
        wrong = P.pack(P.Message(P.Control(np.array([0.5, 0.6, 0.7])), "out.out", 1, 20))
        end = time.monotonic() + 10
        while c.counts["received"] == 0 and time.monotonic() < end:  # slow joiner: resend until one arrives
            pub.send(good)
            time.sleep(0.01)
            c.read()
        pub.send(b"\x00junk")
        pub.send(wrong)
        _read_until(c, lambda r: c.counts["rejected"] == 2, 5, "two rejections")
        r = c.read()
        assert not r.safe and r.reason == "live" and np.array_equal(r.values, [0.5, 0.6]) and r.t_us == 10
        now[0] += 0.21
        r = c.read()
        assert r.safe and r.reason == "timeout" and np.array_equal(r.values, [1.0, 2.0])
        pub.send(P.pack(P.Message(P.Control(np.array([0.0, 0.1]), [], True), "out.out", 2, 30)))
        r, _ = _read_until(c, lambda r: r.reason == "safe", 5, "the node's safe message")
        assert r.safe and np.array_equal(r.values, [0.0, 0.1])
    finally:
        c.close()
        pub.close(0)
        ctx.term()
    with pytest.raises(ValueError):
        ActuatorClient("tcp://127.0.0.1:1", 2, safe_value=[0.0])
    with pytest.raises(ValueError):
        ActuatorClient("tcp://127.0.0.1:1", 2, timeout_s=0)


def test_command_line_prints_what_the_actuator_would_apply():
    r = subprocess.run([sys.executable, "-m", "spikestream.actuator", f"tcp://127.0.0.1:{free_tcp_port()}", "--n", "2",
                        "--safe", "0.5", "-1", "--count", "3", "--tick", "0.01"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    import json

    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 3 and all(x["safe"] and x["reason"] == "waiting" and x["values"] == [0.5, -1.0] for x in lines)
