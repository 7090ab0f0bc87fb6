"""The XDF writer and the per-kind layout, checked against pyxdf (a reader nobody here wrote): every kind's
values and time stamps, the header and footer <desc>, seq gaps, malformed frames, a file cut anywhere."""

import struct

import numpy as np
import pytest

from spikestream import protocol as P
from spikestream.record.recorder import Recording
from spikestream.record.xdf import SAMPLES, XDFWriter, chunk, load_samples, read_xdf, varlen

pyxdf = pytest.importorskip("pyxdf")

T0 = 1_700_000_000_000_000  # a wall-clock-like source time in us: the stamps must still round-trip exactly


def _messages(n=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        t = T0 + np.arange(k * 10, k * 10 + 10, dtype=np.int64) * 1000 + rng.integers(0, 500, 10)
        out.append(P.Message(P.Samples(t, rng.standard_normal((10, 3)).astype(np.float32), 1000.0, ["a", "b", "c"]),
                             "emg.samples", k, int(t[-1]), 1))
        m = int(rng.integers(0, 20))
        st = np.sort(rng.integers(t[0], t[0] + 10_000, m))
        out.append(P.Message(P.Spikes(int(t[0]), int(t[0]) + 10_000, 50, rng.integers(0, 50, m).astype(np.uint32), st),
                             "snn.out", k, int(t[0]) + 10_000, 1))
        out.append(P.Message(P.Control(rng.standard_normal(2), ["dof0", "dof1"], k % 7 == 3), "output.out", k,
                             int(t[-1]), 1))
        ne = int(rng.integers(1, 30))
        out.append(P.Message(P.Events(int(t[0]), int(t[0]) + 10_000, 640, 480, rng.integers(0, 640, ne).astype(np.uint16),
                                      rng.integers(0, 480, ne).astype(np.uint16),
                                      np.sort(rng.integers(t[0], t[0] + 10_000, ne)), rng.integers(0, 2, ne).astype(np.uint8)),
                             "cam.events", k, int(t[0]) + 10_000, 1))
    return out


def _record(path, msgs, **kw):
    rec = Recording(XDFWriter(path, **kw))
    for m in msgs:
        rec.add(m, "tcp://127.0.0.1:1")
    return rec, rec.close()


def _load(path):
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    return {s["info"]["name"][0]: s for s in streams}


def _us(ts):
    return np.round(np.asarray(ts) * 1e6).astype(np.int64)


def test_every_kind_reads_back_in_pyxdf_exactly(tmp_path):
    msgs = _messages()
    path = tmp_path / "run.xdf"
    _record(path, msgs)
    got = _load(path)
    assert set(got) == {"emg.samples", "snn.out", "output.out", "cam.events"}
    by = {name: [m for m in msgs if m.stream == name] for name in got}

    s = got["emg.samples"]
    assert s["info"]["channel_format"] == ["float32"] and s["info"]["nominal_srate"] == ["1000.0"]
    assert [c["label"][0] for c in s["info"]["desc"][0]["channels"][0]["channel"]] == ["a", "b", "c"]
    assert np.array_equal(_us(s["time_stamps"]), np.concatenate([m.body.t_us for m in by["emg.samples"]]))
    assert np.array_equal(s["time_series"], np.concatenate([m.body.data for m in by["emg.samples"]]))

    s = got["snn.out"]
    assert s["info"]["channel_format"] == ["int64"] and s["info"]["nominal_srate"] == ["0.0"]
    assert s["info"]["desc"][0]["spikestream"][0]["n_neurons"] == ["50"]
    assert np.array_equal(_us(s["time_stamps"]), np.concatenate([m.body.t_us for m in by["snn.out"]]))
    assert np.array_equal(s["time_series"][:, 0], np.concatenate([m.body.idx for m in by["snn.out"]]))
    assert np.array_equal(s["time_series"][:, 1], np.concatenate([np.full(m.body.idx.size, m.seq) for m in by["snn.out"]]))

    s = got["output.out"]
    assert [c["label"][0] for c in s["info"]["desc"][0]["channels"][0]["channel"]] == ["dof0", "dof1", "safe"]
    assert np.array_equal(_us(s["time_stamps"]), [m.t_us for m in by["output.out"]])
    assert np.array_equal(s["time_series"][:, :2], np.stack([m.body.values for m in by["output.out"]]))
    assert np.array_equal(s["time_series"][:, 2], [float(m.body.safe) for m in by["output.out"]])

    s = got["cam.events"]
    assert s["info"]["desc"][0]["spikestream"][0]["width"] == ["640"]
    assert np.array_equal(_us(s["time_stamps"]), np.concatenate([m.body.t for m in by["cam.events"]]))
    want = np.concatenate([np.stack([m.body.x, m.body.y, m.body.p], 1) for m in by["cam.events"]])
    assert np.array_equal(s["time_series"], want)

    for name, s in got.items():
        d = s["info"]["desc"][0]["spikestream"][0]
        assert d["stream"] == [name] and d["version"] and d["endpoint"] == ["tcp://127.0.0.1:1"]
        f = s["footer"]["info"]
        assert f["sample_count"] == [str(len(s["time_stamps"]))]
        assert f["desc"][0]["spikestream"][0]["messages"] == ["40"]


def test_pyxdf_defaults_keep_irregular_stamps_and_our_reader_agrees(tmp_path):
    """pyxdf by default synchronises clocks (our offsets are 0) and dejitters regular streams only."""
    path = tmp_path / "run.xdf"
    _record(path, _messages(10))
    streams, _ = pyxdf.load_xdf(str(path))
    ours = {s.name: s for s in read_xdf(path)}
    for s in streams:
        o = ours[s["info"]["name"][0]]
        assert np.array_equal(o.time_series, s["time_series"])
        if s["info"]["nominal_srate"] == ["0.0"]:
            assert np.array_equal(o.time_stamps, s["time_stamps"])
        else:  # a linear fit through the jittered stamps: close, not equal
            assert np.max(np.abs(o.time_stamps - s["time_stamps"])) < 1e-3


def test_seq_gaps_resets_and_malformed_frames_go_to_the_footer(tmp_path):
    msgs = [m for m in _messages(12) if m.stream == "output.out"]
    keep = [m for m in msgs if m.seq not in (4, 5, 9)]  # three dropped, in two gaps
    keep.append(P.Message(P.Control(np.zeros(2), ["dof0", "dof1"]), "output.out", 0, T0, 1))  # a restart
    path = tmp_path / "gaps.xdf"
    rec = Recording(XDFWriter(path))
    for m in keep:
        rec.add(P.unpack(P.pack(m)))
    for junk in (b"", b"\x00garbage", P.pack(msgs[0])[:-3]):
        try:
            P.unpack(junk)
        except P.ProtocolError as e:
            rec.malformed(str(e))
    rec.add(P.Message(P.Stats("x", {"a": 1}), "stats", 0, 0, 0))  # not a recorded kind
    summary = rec.close()
    assert summary["malformed"] == 3 and summary["not_recorded"] == 1
    d = _load(path)["output.out"]["footer"]["info"]["desc"][0]["spikestream"][0]
    assert d["seq_gaps"] == ["2"] and d["dropped_messages"] == ["3"] and d["seq_resets"] == ["1"]
    assert d["malformed_frames"] == ["3"] and d["first_seq"] == ["0"] and d["safe_messages"] == ["2"]  # seq 3 and 10


def test_a_file_cut_anywhere_still_reads_up_to_the_cut(tmp_path):
    """A killed recorder leaves a file ending on a chunk boundary (chunks are written whole); even a cut
    inside a chunk (a full disk) loses only that chunk, in pyxdf and in our reader."""
    path = tmp_path / "full.xdf"
    msgs = [m for m in _messages(30) if m.stream == "emg.samples"]
    _record(path, msgs, max_buffer=1)  # every chunk written on its own
    whole = path.read_bytes()
    rows = np.concatenate([m.body.data for m in msgs])
    for cut in (len(whole) // 3, len(whole) // 2 + 7, len(whole) - 5):
        p = tmp_path / f"cut{cut}.xdf"
        p.write_bytes(whole[:cut])
        ours = read_xdf(p)[0].time_series
        assert 0 < len(ours) <= len(rows) and np.array_equal(ours, rows[:len(ours)])
        theirs = _load(p)["emg.samples"]["time_series"]
        assert np.array_equal(theirs, rows[:len(theirs)]) and len(theirs) >= len(ours) - 10


def test_a_stream_changing_width_gets_a_second_stream(tmp_path):
    t = np.arange(3, dtype=np.int64)
    a = P.Message(P.Samples(t, np.ones((3, 2), np.float32), 100.0), "s.samples", 0, 2, 1)
    b = P.Message(P.Samples(t + 3, np.ones((3, 4), np.float32), 100.0), "s.samples", 1, 5, 1)
    path = tmp_path / "w.xdf"
    _record(path, [a, b])
    got = _load(path)
    assert got["s.samples"]["time_series"].shape == (3, 2) and got["s.samples#2"]["time_series"].shape == (3, 4)


def test_our_reader_fills_in_left_out_stamps_as_pyxdf_does(tmp_path):
    """LabRecorder may leave a sample's stamp out (TimeStampBytes 0): previous + 1 / nominal rate."""
    path = tmp_path / "lsl.xdf"
    w = XDFWriter(path)
    import xml.etree.ElementTree as ET

    info = ET.fromstring("<info><name>EEG</name><type>EEG</type><channel_count>2</channel_count>"
                         "<nominal_srate>250</nominal_srate><channel_format>double64</channel_format></info>")
    sid = w.add_stream(info)
    body = b"".join((struct.pack("<Bd", 8, 10.0) if i == 0 else b"\x00") + struct.pack("<2d", i, -i) for i in range(5))
    w._put(chunk(SAMPLES, struct.pack("<I", sid) + varlen(5) + body))
    w.close()
    t, data, names, rate = load_samples(path)
    theirs = _load(path)["EEG"]
    assert np.allclose(theirs["time_stamps"], 10.0 + np.arange(5) / 250)
    assert np.array_equal(t, _us(theirs["time_stamps"])) and np.array_equal(data, theirs["time_series"])
    assert rate == 250.0 and names is None


def test_load_samples_picks_by_name_and_refuses_ambiguity(tmp_path):
    path = tmp_path / "run.xdf"
    _record(path, _messages(5))
    t, data, names, rate = load_samples(path, "emg.samples")
    assert names == ["a", "b", "c"] and rate == 1000.0 and data.dtype == np.float32 and t.dtype == np.int64
    assert load_samples(path)[1].shape == data.shape  # the only "samples" stream
    with pytest.raises(ValueError, match="no numeric stream named 'nope'"):
        load_samples(path, "nope")
