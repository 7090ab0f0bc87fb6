"""The runtime tests' own fixture (helper modules: tests/conftest.py)."""

import os

import pytest


@pytest.fixture(autouse=True)
def _control_token(monkeypatch):
    """Every node these tests start (and every supervisor's children) requires this control token; the
    `command` helper sends it. Tests of the token itself override or remove it."""
    monkeypatch.setenv("SPIKESTREAM_CONTROL_TOKEN", "runtime-tests-" + os.urandom(8).hex())
