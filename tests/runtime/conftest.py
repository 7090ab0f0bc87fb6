"""Make this folder's shared helpers importable as `runtime_helpers` (tests run with --import-mode=importlib)."""

import importlib.util
import os
import sys
from pathlib import Path

for _name in ("runtime_helpers", "loop_helpers"):  # in this order: loop_helpers imports runtime_helpers
    _spec = importlib.util.spec_from_file_location(_name, Path(__file__).with_name(f"{_name}.py"))
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _mod
    _spec.loader.exec_module(_mod)


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _control_token(monkeypatch):
    """Every node these tests start (and every supervisor's children) requires this control token; the
    `command` helper sends it. Tests of the token itself override or remove it."""
    monkeypatch.setenv("SPIKESTREAM_CONTROL_TOKEN", "runtime-tests-" + os.urandom(8).hex())
