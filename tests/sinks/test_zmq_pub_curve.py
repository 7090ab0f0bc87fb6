"""The zmq_pub sink honours the pipeline's CURVE keys (issue 11 item 5): encrypted, and only authorized
client keys receive; plaintext and unknown subscribers get nothing."""

import time

import numpy as np
import pytest

import spikestream.nodes  # noqa: F401
from spikestream.actuator import ActuatorClient
from spikestream.protocol import Message, Spikes
from spikestream.registry import NODES, SINKS
from spikestream.transport import Curve, make_curve_keys


def _packet(k):
    return Message(Spikes(k * 1000, (k + 1) * 1000, 4, np.zeros(0, np.uint32), np.zeros(0, np.int64)), "s", k, k * 1000)


def test_zmq_pub_sink_of_an_encrypted_pipeline_admits_only_authorized_clients(tmp_path):
    keys = make_curve_keys(tmp_path / "keys")
    stranger = make_curve_keys(tmp_path / "stranger")
    n = NODES.get("control_output")("out", {
        "decoder": {"kind": "linear_rls", "n_inputs": 4, "n_outputs": 1}, "calibrate_s": 0.0,
        "safety": {"lo": -1.0, "hi": 1.0}, "sinks": [{"kind": "zmq_pub", "endpoint": "tcp://127.0.0.1:*"}]})
    n.curve_keys = str(tmp_path / "keys")  # what the runtime sets from [pipeline] curve_keys
    n.setup()
    sink = n.sinks[0]
    assert sink.stats()["curve"]
    good = ActuatorClient(sink.endpoint, 1, timeout_s=5.0, curve=tmp_path / "keys")
    plain = ActuatorClient(sink.endpoint, 1, timeout_s=5.0)
    unknown = ActuatorClient(sink.endpoint, 1, timeout_s=5.0, curve=Curve(
        keys.server_public, b"", stranger.client_public, stranger.client_secret, stranger.authorized))
    try:
        k = 0
        end = time.monotonic() + 15
        while good.counts["received"] < 20 and time.monotonic() < end:
            n.on_message("in", _packet(k))
            k += 1
            time.sleep(0.01)
            for c in (good, plain, unknown):
                c.read()
        assert good.counts["received"] >= 20
        for _ in range(30):  # keep publishing a while longer: still nothing for the others
            n.on_message("in", _packet(k))
            k += 1
            time.sleep(0.01)
        for c in (plain, unknown):  # refused at the handshake ("waiting" or "disconnected"): only the safe value
            r = c.read()
            assert r.safe and r.reason in ("waiting", "disconnected") and c.counts["received"] == 0
    finally:
        n.close()
        for c in (good, plain, unknown):
            c.close()


def test_zmq_pub_curve_keys_are_checked(tmp_path):
    with pytest.raises(ValueError, match="zmq_pub.*CURVE keys"):
        SINKS.create("zmq_pub", endpoint="tcp://127.0.0.1:*", curve_keys=str(tmp_path / "none"))
    s = SINKS.create("zmq_pub", endpoint="tcp://127.0.0.1:*")
    assert not s.stats()["curve"]
    s.close()
    s.close()


NODE = """
import sys
import spikestream.nodes
from spikestream.runtime.loop import NodeRunner
from spikestream.runtime.pipeline import NodeSpec
spec = NodeSpec("out", "control_output", curve_keys=sys.argv[2], tick_ms=10.0,
                params={"decoder": {"kind": "linear_rls", "n_inputs": 4, "n_outputs": 1}, "calibrate_s": 0.0,
                        "safety": {"timeout_s": 0.1, "safe_value": 0.5}, "safe_repeat_s": 0.05,
                        "sinks": [{"kind": "zmq_pub", "endpoint": sys.argv[1]}]})
sys.exit(NodeRunner(spec).run(duration_s=60))
"""


def test_the_runtime_hands_the_pipeline_keys_to_the_zmq_pub_sink(tmp_path):
    """Through NodeRunner (as `spikestream run` starts it): [pipeline] curve_keys reach the sink."""
    import os
    import signal
    import subprocess
    import sys

    from spikestream.transport import free_tcp_port

    make_curve_keys(tmp_path / "keys")
    ep = f"tcp://127.0.0.1:{free_tcp_port()}"
    (tmp_path / "node.py").write_text(NODE)
    node = subprocess.Popen([sys.executable, str(tmp_path / "node.py"), ep, str(tmp_path / "keys")],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    good = ActuatorClient(ep, 1, timeout_s=5.0, curve=tmp_path / "keys")
    plain = ActuatorClient(ep, 1, timeout_s=5.0)
    try:
        end = time.monotonic() + 30
        while good.counts["received"] < 5 and time.monotonic() < end:  # the watchdog's safe value, repeated
            good.read()
            plain.read()
            time.sleep(0.01)
        assert good.counts["received"] >= 5 and good.read().values[0] == 0.5
        assert plain.read().safe and plain.counts["received"] == 0
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(15)
        good.close()
        plain.close()
