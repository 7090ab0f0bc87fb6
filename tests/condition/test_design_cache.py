"""Filter designs kept on disk: designed with scipy once, then read back, so a restarted node does not import
scipy.signal (0.8 s of its time back after a kill)."""

import subprocess
import sys

import numpy as np

from spikestream.condition import design


def test_designed_once_then_read_back_and_a_bad_file_is_designed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKESTREAM_CACHE_DIR", str(tmp_path))
    calls = []

    def make():
        calls.append(1)
        return np.array([[1.0, 2.0, 3.0, 1.0, 0.5, 0.25]])

    a = design.cached("butter_test", (2, 10.0, 1000.0), make)
    b = design.cached("butter_test", (2, 10.0, 1000.0), make)
    assert len(calls) == 1 and np.array_equal(a, b)
    design.cached("butter_test", (2, 11.0, 1000.0), make)  # other parameters: designed anew
    assert len(calls) == 2
    for p in (tmp_path / "filters").iterdir():
        p.write_bytes(b"not an npy file")
    c = design.cached("butter_test", (2, 10.0, 1000.0), make)
    assert len(calls) == 3 and np.array_equal(a, c)


def test_an_unwritable_cache_still_gives_the_design(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SPIKESTREAM_CACHE_DIR", str(blocker))  # a file where the folder should be
    assert design.cached("k", (1,), lambda: np.ones(3)).tolist() == [1.0, 1.0, 1.0]


CODE = """
import sys
from spikestream.registry import CONDITIONERS, SOURCES
CONDITIONERS.create("bandpass", n_channels=2, rate_hz=1000.0, low_hz=20.0, high_hz=450.0, order=4)
CONDITIONERS.create("notch", n_channels=2, rate_hz=1000.0)
SOURCES.create("emg_synth", n_channels=2, rate_hz=1000.0, n_dof=1).read(100)
print("scipy.signal" in sys.modules)
"""


def test_a_second_start_does_not_import_scipy_signal(tmp_path):
    env = {"SPIKESTREAM_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=120)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert [r.stdout.strip() for r in runs] == ["True", "False"]
