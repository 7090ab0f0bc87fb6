"""Event files against independent implementations (test-only dependencies): faery (Rust) writes and reads
EVT 2.0/3.0, DAT, AEDAT 4; expelliarmus (C) reads EVT 2.0/3.0, DAT; dv-processing (iniVation C++) writes
and reads AEDAT 4. Every event is compared. (No installed peer writes EVT 2.1 or AEDAT 2.0/3.1: those are
checked against the spec-built encoders in format_reference.py.)"""

import numpy as np
import pytest

import events_format_reference as fr
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import open_reader, open_writer

pytestmark = pytest.mark.slow

faery = pytest.importorskip("faery")

W, H = 1280, 720


def ours(path, **kw):
    with open_reader(path, **kw) as r:
        ev = np.concatenate(list(r))
        assert not any(r.stats.values()), r.stats
        return ev, (r.width, r.height)


def to_faery(ev):
    a = np.zeros(len(ev), faery.EVENTS_DTYPE)
    a["t"], a["x"], a["y"], a["on"] = ev["t"], ev["x"], ev["y"], ev["p"] != 0
    return a


def from_faery(a):
    ev = np.empty(len(a), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = a["t"], a["x"], a["y"], a["on"]
    return ev


def faery_read(path):
    return from_faery(np.concatenate(list(faery.events_stream_from_file(path))))


@pytest.fixture(scope="module")
def recording():
    """2 s of a 1280x720 moving-edge recording at ~1.5 Mev/s, starting at t = 3 s."""
    return fr.moving_edges(300_000, W, H, t0=3_000_000, rate_mev_s=1.5, seed=21)


@pytest.fixture(scope="module")
def long_recording():
    """40 s (past two EVT 3.0 time-base wraps) at a low rate."""
    return fr.moving_edges(100_000, W, H, t0=1_000, rate_mev_s=0.0025, seed=22)


@pytest.mark.parametrize("version,ext", [("evt2", ".raw"), ("evt3", ".raw"), ("dat2", ".dat"), (None, ".aedat4")])
@pytest.mark.parametrize("zero_t0", [False, True])
def test_we_read_faery_files(tmp_path, recording, version, ext, zero_t0):
    p = tmp_path / f"f{ext}"
    s = faery.events_stream_from_array(to_faery(recording), (W, H))
    if ext == ".aedat4":
        s.to_file(str(p))
    else:
        s.to_file(str(p), version=version, zero_t0=zero_t0)
    got, size = ours(p)
    assert size == (W, H)
    np.testing.assert_array_equal(got, recording)
    np.testing.assert_array_equal(got, faery_read(p))


def test_we_read_faery_zstd_aedat4(tmp_path, recording):
    p = tmp_path / "z.aedat4"
    faery.events_stream_from_array(to_faery(recording), (W, H)).to_file(str(p), compression=faery.aedat.ZSTD_DEFAULT)
    np.testing.assert_array_equal(ours(p)[0], recording)


def test_we_read_long_faery_evt3(tmp_path, long_recording):
    p = tmp_path / "long.raw"
    faery.events_stream_from_array(to_faery(long_recording), (W, H)).to_file(str(p), version="evt3", zero_t0=False)
    got, _ = ours(p, block_bytes=4097)
    np.testing.assert_array_equal(got, long_recording)


@pytest.mark.parametrize("fmt,ext", [("evt2", ".raw"), ("evt3", ".raw"), ("dat", ".dat"), ("aedat4", ".aedat4")])
@pytest.mark.parametrize("which", ["recording", "long_recording"])
def test_faery_reads_our_files(tmp_path, request, fmt, ext, which):
    ev = request.getfixturevalue(which)
    p = tmp_path / f"o{ext}"
    with open_writer(p, format=fmt, width=W, height=H) as w:
        for part in np.array_split(ev, 7):
            w.write(part)
    np.testing.assert_array_equal(faery_read(p), ev)


@pytest.mark.parametrize("fmt,ext", [("evt2", ".raw"), ("evt3", ".raw"), ("dat", ".dat")])
@pytest.mark.parametrize("writer", ["ours", "faery"])
def test_expelliarmus_agrees(tmp_path, recording, fmt, ext, writer):
    """expelliarmus ignores the `% t0` header line: it returns times relative to the file's own t0.
    On EVT 3.0 its times disagree with the Prophesee spec, faery and us (seen here: TIME_HIGH 0, 1, 2 decode
    to 0, 4096, 12288 us instead of 0, 4096, 8192), so only x, y and p are compared for EVT 3.0."""
    expelliarmus = pytest.importorskip("expelliarmus")
    ev = recording
    p = tmp_path / f"e{ext}"
    if writer == "ours":
        with open_writer(p, format=fmt, width=W, height=H) as w:
            w.write(ev)
    else:
        faery.events_stream_from_array(to_faery(ev), (W, H)).to_file(
            str(p), version={"dat": "dat2"}.get(fmt, fmt), zero_t0=True)
    got, _ = ours(p)
    np.testing.assert_array_equal(got, ev)
    ex = expelliarmus.Wizard(encoding=fmt).read(str(p))
    assert len(ex) == len(ev)
    np.testing.assert_array_equal(ex["x"], ev["x"])
    np.testing.assert_array_equal(ex["y"], ev["y"])
    np.testing.assert_array_equal(ex["p"], ev["p"])
    if fmt != "evt3":
        np.testing.assert_array_equal(ex["t"], ev["t"] - ev["t"][0])


def _dv_read(path):
    dv = pytest.importorskip("dv_processing")
    rd = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        b = rd.getNextEventBatch()
        if b is None:
            break
        parts.append(b.numpy())
    d = np.concatenate(parts)
    ev = np.empty(len(d), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = d["timestamp"], d["x"], d["y"], d["polarity"]
    return ev, tuple(rd.getEventResolution())


@pytest.mark.parametrize("compression", ["lz4", "zstd", "none"])
def test_dv_processing_reads_our_aedat4(tmp_path, recording, compression):
    p = tmp_path / "o.aedat4"
    with open_writer(p, format="aedat4", width=W, height=H, compression=compression) as w:
        w.write(recording)
    got, size = _dv_read(p)
    assert size == (W, H)
    np.testing.assert_array_equal(got, recording)


@pytest.mark.parametrize("compression", ["LZ4", "ZSTD", "NONE"])
def test_we_read_dv_processing_aedat4(tmp_path, compression):
    dv = pytest.importorskip("dv_processing")
    ev = fr.moving_edges(20_000, 640, 480, t0=1_700_000_000_000_000, seed=23)  # a wall-clock epoch origin
    p = tmp_path / "dv.aedat4"
    cfg = dv.io.MonoCameraWriter.EventOnlyConfig("DVXplorer_test", (640, 480),
                                                 getattr(dv.CompressionType, compression))
    w = dv.io.MonoCameraWriter(str(p), cfg)
    for part in np.array_split(ev, 5):
        store = dv.EventStore()
        for e in part:
            store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
        w.writeEvents(store)
    del w  # closes the file and writes the data table
    got, size = ours(p)
    assert size == (640, 480)
    np.testing.assert_array_equal(got, ev)


def test_we_read_dv_processing_triggers(tmp_path):
    dv = pytest.importorskip("dv_processing")
    p = tmp_path / "trig.aedat4"
    cfg = dv.io.MonoCameraWriter.Config("cam")
    cfg.addEventStream((640, 480))
    cfg.addTriggerStream()
    w = dv.io.MonoCameraWriter(str(p), cfg)
    for base, pol in ((1000, True), (2000, False)):
        s = dv.EventStore()
        for i in range(100):
            s.push_back(base + i, i, 2, pol)
        w.writeEvents(s)
        w.writeTrigger(dv.Trigger(base + 50, dv.TriggerType.EXTERNAL_SIGNAL_RISING_EDGE))
        w.writeTrigger(dv.Trigger(base + 60, dv.TriggerType.EXTERNAL_SIGNAL_FALLING_EDGE))
    del w
    with open_reader(p) as r:
        ev = np.concatenate(list(r))
        trig = r.pop_triggers()
    assert len(ev) == 200 and ev["p"].tolist() == [1] * 100 + [0] * 100
    assert trig.tolist() == [(1050, 1, 1), (1060, 2, 0), (2050, 1, 1), (2060, 2, 0)]


def test_csv_both_ways_with_faery(tmp_path, recording):
    p = tmp_path / "f.csv"
    faery.events_stream_from_array(to_faery(recording), (W, H)).to_file(str(p), zero_t0=False)
    got, size = ours(p)
    assert size == (W, H)
    np.testing.assert_array_equal(got, recording)
    q = tmp_path / "o.csv"
    with open_writer(q, width=W, height=H) as w:
        w.write(recording)
    np.testing.assert_array_equal(faery_read(q), recording)
