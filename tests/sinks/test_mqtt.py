"""MQTT sink against a real Mosquitto broker started by the test on a free port."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import sinks_mqtt_helpers as mh
from sinks_mqtt_helpers import broker  # noqa: F401  (a fixture)

import spikestream.nodes  # noqa: F401
from spikestream.protocol import Message, Spikes
from spikestream.sinks.mqtt import MqttSink
from spikestream.testing import NodeHarness

wait_for = mh.wait_for
TOPIC = "arm/cmd"


def _vals(sub, topic=TOPIC):
    return [json.loads(p)["values"][0] for p, _ in sub.on(topic)]


def _node(port, **sink):
    h = NodeHarness("control_output", {
        "decoder": {"kind": "linear_rls", "n_inputs": 4, "n_outputs": 1},
        "safety": {"lo": -1e9, "hi": 1e9, "timeout_s": 30.0}, "calibrate_s": 0.0, "names": ["grip"],
        "sinks": [{"kind": "mqtt", "port": port, "topic": TOPIC, "backoff_max_s": 0.4, **sink}]},
        name="out")
    return h.node, h.out


def _packet(k):
    return Message(Spikes(k * 1000, (k + 1) * 1000, 4, np.zeros(0, np.uint32), np.zeros(0, np.int64)), "s", k, k * 1000)


def test_subscriber_receives_controls_and_status(broker):
    sub = mh.Subscriber(broker.port, [TOPIC, TOPIC + "/status"])
    n, out = _node(broker.port)
    sink = n.sinks[0]
    wait_for(sink.connected.is_set, 10, "the sink to connect")
    for k in range(20):
        n.on_message("in", _packet(k))
    wait_for(lambda: len(sub.on(TOPIC)) == 20, 10, "20 control messages")
    recs = [json.loads(p) for p, r in sub.on(TOPIC)]
    assert [r["t_us"] for r in recs] == [(k + 1) * 1000 for k in range(20)]
    assert recs[0]["names"] == ["grip"] and recs[0]["safe"] is False
    assert not any(r for _, r in sub.on(TOPIC))  # never retained
    n.close()
    wait_for(lambda: (b"offline", False) in sub.on(TOPIC + "/status"), 10, "the goodbye status")
    assert sub.on(TOPIC + "/status")[0][0] == b"online"
    sub.close()


def test_broker_restart_mid_stream_recovers_without_stalling(broker):
    sub = mh.Subscriber(broker.port, [TOPIC])
    n, out = _node(broker.port, backoff_min_s=0.05, backoff_max_s=0.3, expiry_s=30.0, queue=16)
    sink = n.sinks[0]
    wait_for(sink.connected.is_set, 10, "the sink to connect")
    for k in range(5):
        n.on_message("in", _packet(k))
    wait_for(lambda: len(sub.on(TOPIC)) == 5, 10, "messages before the outage")
    sub.close()
    broker.stop()
    worst = 0.0
    k = 5
    t_end = time.monotonic() + 1.5  # the node loop keeps running while the broker is down
    while time.monotonic() < t_end or sink.connected.is_set():
        t0 = time.perf_counter()
        n.on_message("in", _packet(k))  # decode -> safety -> emit -> sinks: one loop step's work
        n.poll(time.time_ns())
        worst = max(worst, time.perf_counter() - t0)
        k += 1
        time.sleep(0.002)
        if time.monotonic() > t_end + 10:
            raise AssertionError("the sink never noticed the broker went away")
    print(f"\nmax node call (on_message + poll) while the broker was down: {worst * 1e3:.3f} ms over {k - 5} calls")
    assert worst < 0.25, "the node loop stalled while the broker was down"
    st = sink.stats()
    assert st["queued"] <= 16 and st["dropped"] > 0  # bounded: the oldest were dropped and counted
    n.poll(time.time_ns() + 2_000_000_000)
    assert n.counters["sink0.dropped"] > 0  # visible in the node's stats
    broker.start()
    sub = mh.Subscriber(broker.port, [TOPIC])
    wait_for(sink.connected.is_set, 15, "the sink to reconnect")
    last = k
    n.on_message("in", _packet(last))
    wait_for(lambda: (last + 1) * 1000 in [json.loads(p)["t_us"] for p, _ in sub.on(TOPIC)], 10,
             "a message after the restart")
    assert sink.stats()["connects"] >= 2
    ts = [json.loads(p)["t_us"] for p, _ in sub.on(TOPIC)]
    assert ts == sorted(ts)  # what was queued arrives in order, newest kept
    n.close()
    sub.close()


def test_late_subscriber_gets_no_retained_command(broker):
    sink = MqttSink(port=broker.port, topic=TOPIC)
    wait_for(sink.connected.is_set, 10, "the sink to connect")
    early = mh.Subscriber(broker.port, [TOPIC])
    sink.publish(np.array([1.0]), 1)
    wait_for(lambda: early.on(TOPIC), 10, "the command")
    late = mh.Subscriber(broker.port, [TOPIC, TOPIC + "/status"])  # command topic first: its retained would come first
    wait_for(lambda: late.on(TOPIC + "/status"), 10, "the retained status")
    assert late.on(TOPIC + "/status")[0] == (b"online", True)
    assert late.on(TOPIC) == []
    sink.close()
    early.close()
    late.close()


def test_mqtt5_expiry_drops_stale_commands_for_queued_subscriber(broker):
    sub = mh.Subscriber(broker.port, [TOPIC], client_id="persist", clean_start=False, session_expiry=300)
    sub.close()  # offline, but its session (and QoS 1 queue) persists in the broker
    sink = MqttSink(port=broker.port, topic=TOPIC, expiry_s=1.0, qos=1)
    wait_for(sink.connected.is_set, 10, "the sink to connect")
    sink.publish(np.array([1.0]), 1)
    wait_for(lambda: sink.stats()["sent"] == 1, 10, "the first command to be sent")
    time.sleep(2.2)  # let the 1 s message expiry interval pass (real time is the thing under test)
    sink.publish(np.array([2.0]), 2)
    wait_for(lambda: sink.stats()["sent"] == 2, 10, "the second command to be sent")
    back = mh.Subscriber(broker.port, [TOPIC], client_id="persist", clean_start=False, session_expiry=300)
    wait_for(lambda: 2.0 in _vals(back), 10, "the fresh queued command")
    assert 1.0 not in _vals(back)
    sink.close()
    back.close()


def test_last_will_announces_offline_when_killed(broker, tmp_path):
    sub = mh.Subscriber(broker.port, [TOPIC + "/status"])
    script = tmp_path / "pub.py"
    script.write_text(
        "import sys, time, numpy as np\n"
        "from spikestream.sinks.mqtt import MqttSink\n"
        f"s = MqttSink(port={broker.port}, topic={TOPIC!r}, keepalive_s=2)\n"
        "s.connected.wait(10)\nprint('up', flush=True)\n"
        "while True:\n    s.publish(np.array([0.0]), 0); time.sleep(0.05)\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "up"
        wait_for(lambda: (b"online", False) in sub.on(TOPIC + "/status"), 10, "online status")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        wait_for(lambda: sub.on(TOPIC + "/status")[-1][0] == b"offline", 15, "the last will")
    finally:
        if p.poll() is None:
            p.kill()
        sub.close()


def test_username_password(tmp_path):
    b = mh.password_broker(tmp_path)
    try:
        bad = MqttSink(port=b.port, topic=TOPIC, username="robot", password="wrong", backoff_max_s=0.2)
        good = MqttSink(port=b.port, topic=TOPIC, username="robot", password="s3cret")
        wait_for(good.connected.is_set, 10, "the authorised sink to connect")
        assert not bad.connected.is_set() and bad.stats()["connects"] == 0
        bad.close()
        good.close()
    finally:
        b.stop()


def test_bad_params():
    for kw, msg in [({"qos": 3}, "qos"), ({"topic": "a/#"}, "wildcard"), ({"expiry_s": 0}, "expiry"),
                    ({"password": "x"}, "username"), ({"backoff_min_s": 2, "backoff_max_s": 1}, "backoff")]:
        with pytest.raises(ValueError, match=msg):
            MqttSink(**kw)


def _certs(d):
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=spikestream-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "server.crt", "-days", "2", "-extfile", "san.ext")
    return d / "ca.crt", d / "server.crt", d / "server.key"


def test_tls(tmp_path):
    import shutil

    mh.need_mosquitto()
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    ca, crt, key = _certs(tmp_path)
    b = mh.Broker(tmp_path, extra_conf=f"allow_anonymous true\ncafile {ca}\ncertfile {crt}\nkeyfile {key}").start()
    try:
        good = MqttSink(host="127.0.0.1", port=b.port, topic=TOPIC, tls=True, ca_certs=str(ca))
        plain = MqttSink(host="127.0.0.1", port=b.port, topic=TOPIC, backoff_max_s=0.2)
        untrusted = MqttSink(host="127.0.0.1", port=b.port, topic=TOPIC, tls=True, backoff_max_s=0.2)  # system CAs
        wait_for(good.connected.is_set, 10, "the TLS sink to connect")
        good.publish(np.array([1.0]), 1)
        wait_for(lambda: good.stats()["sent"] == 1, 10, "a command over TLS")
        assert plain.stats()["connects"] == 0 and untrusted.stats()["connects"] == 0
        for s in (good, plain, untrusted):
            s.close()
    finally:
        b.stop()
