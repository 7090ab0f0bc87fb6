"""The safe value reaches an MQTT subscriber when the output node closes (stop, SIGTERM, end of run), and
before the sink says "offline" (issue 11 item 4: the actuator is told on every sink)."""

import json

import numpy as np
import sinks_mqtt_helpers as mh
from sinks_mqtt_helpers import broker  # noqa: F401  (a fixture)

import spikestream.nodes  # noqa: F401
from spikestream.protocol import Message, Spikes
from spikestream.registry import NODES

TOPIC = "hand/cmd"


def test_close_publishes_the_safe_value_on_mqtt_before_offline(broker):
    sub = mh.Subscriber(broker.port, [TOPIC, TOPIC + "/status"])
    n = NODES.get("control_output")("out", {
        "decoder": {"kind": "linear_rls", "n_inputs": 4, "n_outputs": 1}, "calibrate_s": 0.0,
        "safety": {"lo": -1.0, "hi": 1.0, "timeout_s": 30.0, "safe_value": 0.25},
        "sinks": [{"kind": "mqtt", "port": broker.port, "topic": TOPIC}]})
    n.setup()
    try:
        mh.wait_for(n.sinks[0].connected.is_set, 10, "the sink to connect")
        for k in range(5):
            n.on_message("in", Message(Spikes(k * 1000, (k + 1) * 1000, 4, np.zeros(0, np.uint32),
                                              np.zeros(0, np.int64)), "s", k, k * 1000))
        mh.wait_for(lambda: len(sub.on(TOPIC)) == 5, 10, "5 live commands")
        n.close()
        mh.wait_for(lambda: len(sub.on(TOPIC)) == 6, 10, "the safe value")
        last = json.loads(sub.on(TOPIC)[-1][0])
        assert last["safe"] is True and last["values"] == [0.25]
        mh.wait_for(lambda: sub.on(TOPIC + "/status")[-1][0] == b"offline", 10, "offline")
        with sub.lock:  # the safe command came before the goodbye
            msgs = [(t, p) for t, p, _ in sub.msgs]
        i_safe = max(i for i, (t, _) in enumerate(msgs) if t == TOPIC)
        i_offline = max(i for i, m in enumerate(msgs) if m == (TOPIC + "/status", b"offline"))
        assert i_safe < i_offline
    finally:
        sub.close()
