"""Shared test setup: every area's helper modules importable under one unique name each.

Tests run with --import-mode=importlib and several areas have a ``reference.py`` of their own, so each helper
file gets a name prefixed by its area (``from snn_reference import ...``). One lazy finder serves them all:
a helper is loaded when a test first imports it, so running one area never imports another area's helpers
(and their dependencies). Fixtures that belong to one area stay in that area's conftest.py.
"""

import importlib.abc
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: importable name -> file, relative to tests/
HELPERS = {
    "condition_reference": "condition/reference.py",
    "decode_helpers": "decode/helpers.py",
    "decode_reference": "decode/reference.py",
    "encode_reference": "encode/reference.py",
    "events_reference": "events/reference.py",          # filters, slicer, emulator
    "events_format_reference": "events/format_reference.py",  # file-format encoders, per-word decoders
    "runtime_helpers": "runtime/runtime_helpers.py",
    "loop_helpers": "runtime/loop_helpers.py",
    "sinks_mqtt_helpers": "sinks/mqtt_helpers.py",      # a real Mosquitto broker and a subscriber
    "snn_reference": "snn/reference.py",
    "snn_brian2_harness": "snn/brian2_harness.py",      # Brian2 in its own virtualenv, via a subprocess
    "snn_helpers": "snn/snn_helpers.py",                # a script in a fresh interpreter; the pairing network
    "sources_live_helpers": "sources/live_helpers.py",
}


class _HelperFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        rel = HELPERS.get(name)
        return importlib.util.spec_from_file_location(name, HERE / rel) if rel else None


if not any(isinstance(f, _HelperFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _HelperFinder())
