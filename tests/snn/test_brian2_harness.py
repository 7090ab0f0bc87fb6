"""The Brian2 harness itself: where it finds Brian2, and that a missing Brian2 fails CI instead of skipping."""

import pytest

import snn_brian2_harness as h


def test_missing_brian2_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKESTREAM_BRIAN2_PYTHON", str(tmp_path / "nope" / "python"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="make brian2-env"):
        h.require_brian2()


def test_missing_brian2_skips_locally(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKESTREAM_BRIAN2_PYTHON", str(tmp_path / "nope" / "python"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Brian2 is not available"):
        h.require_brian2()


def test_env_var_wins_over_fallback(monkeypatch):
    monkeypatch.setenv("SPIKESTREAM_BRIAN2_PYTHON", "/some/python")
    assert h.brian2_python() == "/some/python"
    monkeypatch.delenv("SPIKESTREAM_BRIAN2_PYTHON")
    fallback = h.REPO / ".venv-brian2" / "bin" / "python"
    assert h.brian2_python() == (str(fallback) if fallback.exists() else None)


def test_a_failing_script_raises_with_its_stderr(tmp_path):
    py = h.brian2_python()
    if py is None:
        pytest.skip("no Brian2 environment")
    with pytest.raises(RuntimeError, match="failed"):
        h.run_brian2("generic_net.py", {}, {"dt_us": 100}, python=py)
