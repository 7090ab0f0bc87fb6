"""The watchdog with a real upstream process over ZeroMQ, killed with SIGKILL: the output node (run by
spikestream.runtime in its own process) must reach the safe value within timeout + one tick."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import zmq

from spikestream.protocol import unpack
from spikestream.transport import free_tcp_port

TIMEOUT_S, TICK_MS = 0.3, 10.0
SAFE = [0.25, -0.5]

UPSTREAM = """
import sys, time, numpy as np, zmq
from spikestream.protocol import Message, Spikes, pack
s = zmq.Context().socket(zmq.PUB); s.bind(sys.argv[1])
print("up", flush=True)
rng = np.random.default_rng(0); k = 0
while True:
    t0 = k * 10_000
    idx = np.sort(rng.integers(0, 8, 5)).astype(np.uint32)
    s.send(pack(Message(Spikes(t0, t0 + 10_000, 8, idx, np.full(5, t0, np.int64)), "snn.out", k, t0, time.time_ns())))
    k += 1
    time.sleep(0.01)
"""

NODE = """
import sys
import spikestream.nodes
from spikestream.runtime.loop import NodeRunner
from spikestream.runtime.pipeline import NodeSpec
spec = NodeSpec("out", "control_output", inputs={{"in": [sys.argv[1]]}}, outputs={{"out": sys.argv[2]}},
                params={{"decoder": {{"kind": "linear_rls", "n_inputs": 8, "n_outputs": 2}},
                         "safety": {{"lo": -1.0, "hi": 1.0, "timeout_s": {timeout}, "safe_value": {safe}}},
                         "calibrate_s": 0.0, "safe_repeat_s": 0.05}},
                tick_ms={tick}, start_wait_s=10.0)
sys.exit(NodeRunner(spec).run(duration_s=60))
"""


def _wait_msg(sub, pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sub.poll(50):
            m = unpack(sub.recv())
            if pred(m):
                return m, time.time_ns()
    raise AssertionError(f"timed out waiting for {what}")


def test_output_reaches_safe_value_when_upstream_is_killed(tmp_path):
    up_ep, out_ep = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(2))
    (tmp_path / "up.py").write_text(UPSTREAM)
    (tmp_path / "node.py").write_text(textwrap.dedent(NODE.format(timeout=TIMEOUT_S, safe=SAFE, tick=TICK_MS)))
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(out_ep)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    up = subprocess.Popen([sys.executable, str(tmp_path / "up.py"), up_ep], stdout=subprocess.PIPE, text=True, env=env)
    node = subprocess.Popen([sys.executable, str(tmp_path / "node.py"), up_ep, out_ep], env=env)
    try:
        assert up.stdout.readline().strip() == "up"
        n_live = 0
        last = None
        while n_live < 30:  # the pipeline is live: decoded values flow
            last, _ = _wait_msg(sub, lambda m: m.kind == "control" and not m.body.safe, 30, "live control messages")
            n_live += 1
        os.kill(up.pid, signal.SIGKILL)
        up.wait(10)
        t_kill = time.time_ns()
        while True:  # drain what was in flight, up to the first safe value
            m, t_recv = _wait_msg(sub, lambda m: m.kind == "control", 10, "the safe value")
            if m.body.safe:
                break
            last = m
        assert np.array_equal(m.body.values, SAFE)
        # the node stamps a safe message with its own clock (origin_ns); the last live one carries the
        # upstream send time, so the gap bounds the watchdog's reaction from the last input
        gap_s = (m.origin_ns - last.origin_ns) / 1e9
        print(f"\nwatchdog: safe value {gap_s * 1e3:.1f} ms after the last input (timeout {TIMEOUT_S * 1e3:.0f} ms, "
              f"tick {TICK_MS:.0f} ms); received {(t_recv - t_kill) / 1e6:.1f} ms after SIGKILL")
        assert TIMEOUT_S <= gap_s <= TIMEOUT_S + TICK_MS / 1e3 + 0.1  # + transport and scheduling slack (shared machine)
        node.send_signal(signal.SIGTERM)
        assert node.wait(15) in (0, 143)  # 143: the runtime's "stopped on request" (EX_STOPPED)
    finally:
        for p in (up, node):
            if p.poll() is None:
                p.kill()
                p.wait()
        sub.close(0)
        ctx.term()
