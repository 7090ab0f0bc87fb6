"""Raw-binary recordings (headerless interleaved frames, e.g. the Myo armband's int16 x 8 at 200 Hz)."""

import logging

import numpy as np
import pytest

from spikestream.sources.files import FileSource
from spikestream.sources.rawbin import read_raw
from spikestream.testing import NodeHarness


def myo_like(path, frames=50, channels=8, seed=0):
    x = np.random.default_rng(seed).integers(-128, 128, (frames, channels)).astype("<i2")
    x.tofile(path)
    return x


def test_int16_interleaved_frames_as_numpy_reads_them(tmp_path):
    x = myo_like(tmp_path / "classe_0.dat")
    r = read_raw(tmp_path / "classe_0.dat", "<i2", 8)
    assert r.partial_bytes == 0 and r.data.dtype == np.float32
    np.testing.assert_array_equal(r.data, np.fromfile(tmp_path / "classe_0.dat", dtype=np.int16).reshape(-1, 8))
    s = read_raw(tmp_path / "classe_0.dat", "int16", 8, scale=0.5, offset=1.0)
    np.testing.assert_allclose(s.data, x * 0.5 + 1.0)


def test_float32_big_endian_and_bad_dtypes(tmp_path):
    x = np.arange(12, dtype=">f4")
    x.tofile(tmp_path / "f.bin")
    np.testing.assert_array_equal(read_raw(tmp_path / "f.bin", ">f4", 3).data, x.reshape(4, 3))
    for bad in ("nope", "U4", "c8", "bool"):
        with pytest.raises(ValueError, match="dtype"):
            read_raw(tmp_path / "f.bin", bad, 3)
    with pytest.raises(ValueError, match="channels"):
        read_raw(tmp_path / "f.bin", "<f4", 0)


def test_truncated_file_gives_whole_frames_and_names_the_file(tmp_path, caplog):
    x = myo_like(tmp_path / "cut.dat", frames=10)
    with open(tmp_path / "cut.dat", "ab") as f:
        f.write(b"\x01\x00\x02")  # 3 bytes of an 11th frame
    with caplog.at_level(logging.WARNING):
        r = read_raw(tmp_path / "cut.dat", "<i2", 8)
    assert r.data.shape == (10, 8) and r.partial_bytes == 3
    np.testing.assert_array_equal(r.data, x)
    assert "cut.dat" in caplog.text and "partial" in caplog.text
    (tmp_path / "tiny.dat").write_bytes(b"\x00" * 5)
    with pytest.raises(ValueError, match="tiny.dat"):
        read_raw(tmp_path / "tiny.dat", "<i2", 8)


def test_file_source_reads_raw_with_rate_and_counts_the_partial_frame(tmp_path):
    x = myo_like(tmp_path / "a.dat", frames=20)
    with open(tmp_path / "a.dat", "ab") as f:
        f.write(b"\x00")
    src = FileSource(str(tmp_path / "a.dat"), rate_hz=200, dtype="<i2", channels=8)
    t, d = src.read(100)
    assert src.total == 20 and src.stats["partial_frames"] == 1
    assert t.tolist() == [k * 5000 for k in range(20)]
    np.testing.assert_array_equal(d, x)
    with pytest.raises(ValueError, match="dtype"):
        FileSource(str(tmp_path / "a.dat"), rate_hz=200)  # .dat without dtype: say what is missing
    with pytest.raises(ValueError, match="rate_hz"):
        FileSource(str(tmp_path / "a.dat"), dtype="<i2", channels=8)


def test_declared_channels_refuse_a_file_of_another_width(tmp_path):
    np.save(tmp_path / "six.npy", np.zeros((5, 6), np.float32))
    (tmp_path / "three.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match=r"six\.npy.*6 channels where 8"):
        FileSource(str(tmp_path / "six.npy"), rate_hz=100, channels=8)
    with pytest.raises(ValueError, match=r"three\.csv.*3 channels where 8"):
        FileSource(str(tmp_path / "three.csv"), rate_hz=100, channels=8)
    assert FileSource(str(tmp_path / "six.npy"), rate_hz=100, channels=6).n_channels == 6


def test_file_source_node_replays_raw(tmp_path):
    x = myo_like(tmp_path / "r.dat", frames=25)
    h = NodeHarness("file_source", {"path": str(tmp_path / "r.dat"), "dtype": "<i2", "channels": 8,
                                    "rate_hz": 200, "scale": 2.0, "pace": "fast", "chunk": 10, "progress": False}, name="rec")
    n, out = h.node, h.out
    while not n.finished:
        n.poll(0)
    got = np.concatenate([b.data for p, b, *_ in out if p == "samples"])
    np.testing.assert_array_equal(got, x * 2.0)
    assert out[-1][1].rate_hz == 200
