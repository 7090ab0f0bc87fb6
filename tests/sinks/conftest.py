"""Make this folder's MQTT helpers (a real Mosquitto broker and a subscriber) importable as
`sinks_mqtt_helpers` (unique name: tests run with --import-mode=importlib)."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("sinks_mqtt_helpers", Path(__file__).with_name("mqtt_helpers.py"))
_mod = importlib.util.module_from_spec(_spec)
sys.modules["sinks_mqtt_helpers"] = _mod
_spec.loader.exec_module(_mod)
