"""`spikestream events emulate FRAMES OUT` writes what the emulator gives, and fails clearly on bad input."""

import numpy as np

from spikestream.cli import main
from spikestream.events.emulator import EmulatorParams, FrameEmulator, FrameReader
from spikestream.events.io import open_reader


def test_emulate_cli_matches_the_emulator(tmp_path):
    frames = np.zeros((8, 16, 24), np.uint8)
    frames[4:, :, :12] = 180  # half the sensor brightens at frame 4
    np.save(tmp_path / "f.npy", frames)
    out = tmp_path / "ev.raw"
    assert main(["events", "emulate", str(tmp_path / "f.npy"), str(out), "--to", "evt3", "--fps", "100",
                 "--seed", "3", "-q"]) == 0
    with open_reader(out) as r:
        got = r.read(1 << 20)
    with FrameReader(tmp_path / "f.npy", 100.0) as src:
        f, t = src.read(100)
    want = FrameEmulator(24, 16, EmulatorParams(seed=3)).feed(f, t)
    assert got.size > 100 and np.all(got["x"] < 12) and np.all(got["p"] == 1)
    for k in ("x", "y", "t", "p"):
        assert np.array_equal(got[k], want[k]), k

def test_emulate_cli_reports_a_missing_input(tmp_path, capsys):
    assert main(["events", "emulate", str(tmp_path / "nope.npy"), str(tmp_path / "o.raw"), "-q"]) == 2
    assert "error" in capsys.readouterr().err
