import numpy as np
import pytest
from scipy.io import wavfile

from spikestream.sources.files import FileSource
from spikestream.testing import NodeHarness

T0 = 1_000_000_000_000


def _node(**params):
    h = NodeHarness("file_source", params, name="rec")
    return h.node, h.out  # h.out: (port, body, t_us, origin_ns) per emit


def test_csv_with_header_time_column_and_bad_rows(tmp_path):
    p = tmp_path / "rec.csv"
    rows = ["time_s,a,b"] + [f"{k * 0.002:.6f},{k},{-k}" for k in range(10)]
    rows[4] = "0.006000,nan,1"  # row k=3 holds NaN
    rows.append("0.010000,99,99")  # time went back
    rows.append("0.030000,11,-11")  # a gap of 9 samples
    p.write_text("\n".join(rows) + "\n")
    src = FileSource(str(p), time_column="time_s", time_unit="s")
    assert src.channels == ["a", "b"] and src.rate_hz == pytest.approx(500.0)
    assert src.stats["rejected_nonfinite"] == 1 and src.stats["rejected_time"] == 1 and src.stats["gaps"] == 2
    t, x = src.read(100)
    assert t.tolist() == [0, 2000, 4000, 8000, 10000, 12000, 14000, 16000, 18000, 30000]
    assert x[:, 0].tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9, 11]
    only_b = FileSource(str(p), time_column=0, time_unit="s", columns=["b"])
    assert only_b.n_channels == 1 and only_b.read(3).data[:, 0].tolist() == [0, -1, -2]


def test_wav_npy_npz(tmp_path):
    pcm = (np.sin(np.arange(800) / 10) * 20000).astype(np.int16)
    wavfile.write(tmp_path / "a.wav", 8000, np.stack([pcm, -pcm], 1))
    w = FileSource(str(tmp_path / "a.wav"))
    t, x = w.read(800)
    assert w.rate_hz == 8000 and x.shape == (800, 2) and t[1] == 125
    np.testing.assert_allclose(x[:, 0], pcm / 32768.0)
    np.save(tmp_path / "b.npy", np.arange(10.0))
    with pytest.raises(ValueError, match="rate_hz"):
        FileSource(str(tmp_path / "b.npy"))
    assert FileSource(str(tmp_path / "b.npy"), rate_hz=100).read(10).t_us[-1] == 90_000
    np.savez(tmp_path / "c.npz", data=np.ones((5, 3), np.float32), t_us=np.array([0, 10, 20, 30, 45]))
    c = FileSource(str(tmp_path / "c.npz"))
    assert c.n_channels == 3 and c.read(5).t_us.tolist() == [0, 10, 20, 30, 45]
    for bad, match in ((tmp_path / "none.csv", "does not exist"), (tmp_path / "b.npy.txt", "does not exist")):
        with pytest.raises(ValueError, match=match):
            FileSource(str(bad))
    (tmp_path / "x.txt").write_text("1,2")
    with pytest.raises(ValueError, match="unknown format"):
        FileSource(str(tmp_path / "x.txt"))


def test_replay_at_recorded_pace_with_speed(tmp_path):
    np.savez(tmp_path / "r.npz", data=np.arange(10, dtype=np.float32)[:, None],
             t_us=np.array([0, 1000, 2000, 3000, 10_000, 11_000, 12_000, 13_000, 14_000, 15_000]))
    n, out = _node(path=str(tmp_path / "r.npz"), chunk=2, speed=2.0)
    n.poll(T0)
    assert out == [] and n.wake_at_ns() == T0 + 500_000  # row 1 (t = 1 ms) is due 0.5 ms in at 2x
    n.poll(T0 + 1_600_000)  # rows up to t = 3.2 ms are due
    assert [b.data[:, 0].tolist() for _, b, *_ in out] == [[0, 1], [2, 3]]
    assert [o for *_, o in out] == [T0, T0 + 1_000_000]
    n.poll(T0 + 5_400_000)  # t = 10.8 ms: row 4 is due but its chunk is not complete
    assert len(out) == 2 and n.wake_at_ns() == T0 + 5_500_000
    n.poll(T0 + 100_000_000)
    assert [b.data[:, 0].tolist() for _, b, *_ in out][2:] == [[4, 5], [6, 7], [8, 9]]
    assert n.finished and n.counters["samples_out"] == 10


def test_fast_replay_with_partial_last_chunk(tmp_path):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).standard_normal((1005, 2)).astype(np.float32))
    n, out = _node(path=str(tmp_path / "f.npy"), rate_hz=1000, chunk=100, pace="fast", fast_msgs_per_poll=4, progress=False)
    polls = 0
    while not n.finished and polls < 10:
        n.poll(T0 + polls)
        polls += 1
    sizes = [b.data.shape[0] for _, b, *_ in out]
    assert sizes == [100] * 10 + [5] and polls == 3
    n.close()


def test_file_node_reports_rejections(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("1,2\n3,inf\n5,6\n")
    n, out = _node(path=str(p), rate_hz=10, pace="fast")
    assert n.counters["rejected_nonfinite"] == 1
    with pytest.raises(ValueError, match="path"):
        _node()
