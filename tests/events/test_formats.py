"""Event file formats: kernels against the per-word references, round trips through our writers, block and
chunk invariance, protocol violations, time wraps, AEDAT 2.0/3.1/EVT 2.1 files built from the spec."""

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import events_format_reference as fr
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import EventFormatError, detect_format, formats, open_reader, open_writer

W, H = 640, 480


def read_all(path, **kw):
    with open_reader(path, **kw) as r:
        parts = list(r)
        ev = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
        return ev, r.stats, r.pop_triggers(), (r.format, r.width, r.height)


def write(path, ev, fmt, chunks=(), **kw):
    with open_writer(path, format=fmt, width=W, height=H, **kw) as w:
        start = 0
        for c in list(chunks) + [len(ev)]:
            w.write(ev[start:c])
            start = c


def test_every_format_is_registered(tmp_path):
    from spikestream.registry import EVENT_FORMATS

    assert {"evt2", "evt21", "evt3", "dat", "aedat2", "aedat3", "aedat4", "npy", "csv"} <= set(formats())
    ev = fr.moving_edges(100, W, H)
    write(tmp_path / "f.raw", ev, "evt3")
    with EVENT_FORMATS.create("evt3", path=tmp_path / "f.raw", chunk_events=10) as r:
        assert len(r.read()) == 10


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("fmt,ext", [("evt2", ".raw"), ("evt21", ".raw"), ("evt3", ".raw"), ("dat", ".dat"),
                                     ("npy", ".npy"), ("aedat4", ".aedat4"), ("csv", ".csv")])
@pytest.mark.parametrize("runs", [False, True])
def test_round_trip_exact(tmp_path, fmt, ext, runs):
    ev = fr.moving_edges(30_000, W, H, t0=7_654_321, runs=runs, seed=3)
    p = tmp_path / f"f{ext}"
    write(p, ev, fmt, chunks=[1, 1000, 1001, 17_000])
    assert detect_format(p) == fmt
    got, stats, _, (f, w, h) = read_all(p)
    assert f == fmt
    if fmt != "npy":
        assert (w, h) == (W, H)
    assert not any(stats.values()), stats
    np.testing.assert_array_equal(got, ev)


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_aedat4_compressions(tmp_path, compression):
    ev = fr.moving_edges(10_000, W, H, seed=4)
    p = tmp_path / "a.aedat4"
    write(p, ev, "aedat4", compression=compression, packet_events=777)
    got, *_ = read_all(p)
    np.testing.assert_array_equal(got, ev)
    with open_reader(p) as r:
        assert r.compression == compression


def test_evt3_vectorises_runs(tmp_path):
    ev = fr.moving_edges(50_000, W, H, runs=True, seed=5)
    t = ev["t"].copy()
    t //= 50  # pack many events into the same microsecond so that rows form runs
    ev["t"] = t
    order = np.lexsort((ev["x"], ev["p"], ev["y"], ev["t"]))
    ev = ev[order]
    key = np.stack([ev["t"], ev["y"], ev["p"], ev["x"]], 1)
    ev = ev[np.r_[True, np.any(key[1:] != key[:-1], axis=1)]]
    p = tmp_path / "v.raw"
    write(p, ev, "evt3")
    words = np.frombuffer(p.read_bytes()[p.read_bytes().index(b"% end\n") + 6:], "<u2")
    assert np.any(words >> 12 == 0x4), "no VECT_12 words written"
    ref_ev, _, c = fr.decode_evt3_words(words)
    np.testing.assert_array_equal(fr.as_events(ref_ev)["x"], ev["x"])
    got, *_ = read_all(p)
    np.testing.assert_array_equal(got, ev)


@pytest.mark.parametrize("legacy", [False, True])
def test_evt21_writer_words_equal_spec_encoder(tmp_path, legacy):
    ev = fr.moving_edges(20_000, W, H, t0=0, runs=True, seed=16)
    ev["t"] -= ev["t"][0]
    with open_writer(tmp_path / "o.raw", format="evt21", width=W, height=H, legacy=legacy) as w:
        w.write(ev)
    ours = (tmp_path / "o.raw").read_bytes()
    ref = fr.encode_evt21(ev, W, H, legacy=legacy)
    assert ours[ours.index(b"% end\n") + 6:] == ref[ref.index(b"% end\n") + 6:]
    got, *_ = read_all(tmp_path / "o.raw")
    np.testing.assert_array_equal(got, ev)


@pytest.mark.parametrize("fmt", ["evt2", "evt21", "evt3", "dat", "npy", "aedat4"])
def test_writer_rejects_bad_input(tmp_path, fmt):
    ev = fr.moving_edges(100, W, H)
    with open_writer(tmp_path / "x", format=fmt, width=W, height=H) as w:
        with pytest.raises(ValueError, match="non-decreasing"):
            w.write(ev[::-1])
        bad = ev.copy()
        bad["x"][3] = W
        with pytest.raises(ValueError, match="width"):
            w.write(bad)
        w.write(ev[50:])
        with pytest.raises(ValueError, match="non-decreasing"):
            w.write(ev[:50])
    with pytest.raises(ValueError, match="fields"):
        with open_writer(tmp_path / "y", format=fmt) as w:
            w.write(np.zeros(3))


# ------------------------------------------------------------------------------------------ streaming
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(block=st.integers(1, 300), reads=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
       fmt=st.sampled_from(["evt2", "evt3", "dat", "evt21", "aedat2"]))
def test_tiny_blocks_and_random_reads_equal_one_block(tmp_path_factory, block, reads, fmt):
    d = tmp_path_factory.mktemp("blk")
    ev = fr.moving_edges(6000, W, H, t0=1000, runs=True, seed=block)
    p = d / "f"
    if fmt == "evt21":
        p.write_bytes(fr.encode_evt21(ev, W, H))
    elif fmt == "aedat2":
        ev = fr.moving_edges(6000, 346, 260, t0=1000, seed=block)
        p.write_bytes(fr.encode_aedat2(ev, "davis"))
    else:
        write(p, ev, fmt)
    whole, *_ = read_all(p, format=fmt, block_bytes=1 << 20)
    np.testing.assert_array_equal(whole, ev)
    parts = []
    with open_reader(p, format=fmt, block_bytes=block, chunk_events=max(reads)) as r:
        i = 0
        while True:
            n = reads[i % len(reads)]
            a = r.read(n)
            assert len(a) <= n
            if len(a) == 0:
                break
            parts.append(a)
            i += 1
        assert len(r.read(10)) == 0  # stays at the end
    np.testing.assert_array_equal(np.concatenate(parts), ev)


def test_read_is_bounded_and_iter_yields_chunks(tmp_path):
    ev = fr.moving_edges(20_000, W, H)
    write(tmp_path / "f.raw", ev, "evt3")
    with open_reader(tmp_path / "f.raw", chunk_events=3000) as r:
        sizes = [len(c) for c in r]
    assert max(sizes) <= 3000 and sum(sizes) == len(ev)
    with open_reader(tmp_path / "f.raw") as r:
        assert len(r.read(0)) == 0
        assert len(r.read(1)) == 1
        r.close()
        with pytest.raises(ValueError, match="closed"):
            r.read(1)


# ------------------------------------------------------------------------------------------ EVT kernels vs reference
def _raw_file(path, fmt, words, header=None):
    h = header if header is not None else f"% format {fmt.upper()};width={W};height={H}\n% end\n"
    dt = {"evt3": "<u2", "evt21": "<u8"}.get(fmt, "<u4")
    path.write_bytes(h.encode() + np.asarray(words, dt).tobytes())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), fmt=st.sampled_from(["evt2", "evt21", "evt3"]), block=st.integers(1, 64))
def test_kernels_equal_reference_on_random_words(tmp_path_factory, seed, fmt, block):
    """Random word streams (every type, garbage included): same events, triggers and counters as the
    per-word reference, at any block size."""
    rng = np.random.default_rng(seed)
    n = 3000
    if fmt == "evt3":
        typ = rng.choice([0, 2, 3, 4, 5, 6, 8, 0xA, 0xE, 7, 1, 9, 0xB], n, p=[.15, .2, .1, .1, .05, .15, .1, .03,
                                                                           .03, .03, .02, .02, .02])
        words = (typ << 12) | rng.integers(0, 1 << 12, n)
        ref = fr.decode_evt3_words(words, W, H)
    elif fmt == "evt21":
        n = 800
        typ = rng.choice([0, 1, 8, 0xA, 0xE, 0xF, 2, 5], n, p=[.35, .35, .12, .05, .04, .03, .03, .03])
        hi = (typ << 28) | rng.integers(0, 1 << 28, n)
        lo = rng.integers(0, 1 << 32, n) & rng.integers(0, 1 << 32, n)  # sparse-ish masks
        words = (hi.astype(np.uint64) << np.uint64(32)) | lo.astype(np.uint64)
        ref = fr.decode_evt21_words(words, W, H)
    else:
        typ = rng.choice([0, 1, 8, 0xA, 0xE, 0xF, 2, 5], n, p=[.35, .35, .12, .05, .04, .03, .03, .03])
        words = (typ << 28) | rng.integers(0, 1 << 28, n)
        ref = fr.decode_evt2_words(words, W, H)
    p = tmp_path_factory.mktemp("k") / "f.raw"
    _raw_file(p, fmt, words)
    got, stats, trig, _ = read_all(p, block_bytes=block)
    exp = fr.as_events(ref[0])
    np.testing.assert_array_equal(got, exp)
    assert [tuple(map(int, t)) for t in trig] == [tuple(t) for t in ref[1]]
    assert stats == ref[2]


def test_evt3_protocol_violations_counted_not_fatal(tmp_path):
    words = [0x2005,            # ADDR_X before any TIME_HIGH
             0x8001,            # TIME_HIGH
             0x2006,            # ADDR_X before any ADDR_Y
             0x4FFF,            # VECT_12 before ADDR_Y
             0x0010,            # ADDR_Y 16
             0x4003,            # VECT_12 before VECT_BASE_X
             0x9123, 0xB000,    # reserved types
             0x6005, 0x2807,    # TIME_LOW 5, ADDR_X x=7 ON -> event t = 4096 + 5
             0x3800 | 630, 0x4FFF]  # vector running past the sensor width: 10 in, 2 out
    _raw_file(tmp_path / "v.raw", "evt3", words)
    got, stats, _, _ = read_all(tmp_path / "v.raw")
    assert stats == {"before_time_high": 1, "before_addr_y": 2, "vector_without_base": 1, "unknown_words": 2,
                     "out_of_bounds": 2}
    assert got[0]["x"] == 7 and got[0]["y"] == 16 and got[0]["t"] == 4101 and got[0]["p"] == 1
    np.testing.assert_array_equal(got["x"][1:], np.arange(630, 640))


def test_evt3_time_wraps_past_16_8_s(tmp_path):
    ev = fr.moving_edges(20_000, W, H, rate_mev_s=0.0005, seed=9)  # 40 s
    assert ev["t"][-1] > 2 * (1 << 24)
    write(tmp_path / "w.raw", ev, "evt3")
    got, *_ = read_all(tmp_path / "w.raw", block_bytes=100)
    np.testing.assert_array_equal(got, ev)


def test_evt2_time_high_wrap(tmp_path):
    """A 28-bit TIME_HIGH that falls back by more than half its range is a wrap (34-bit time base)."""
    top = (1 << 28) - 2
    words = [(0x8 << 28) | top, (1 << 28) | (5 << 22) | (3 << 11) | 4,
             (0x8 << 28) | 1, (0 << 28) | (7 << 22) | (2 << 11) | 1]
    _raw_file(tmp_path / "w.raw", "evt2", words)
    got, *_ = read_all(tmp_path / "w.raw")
    assert got["t"].tolist() == [(top << 6) | 5, (((1 << 28) + 1) << 6) | 7]


def test_triggers_side_channel(tmp_path):
    words = [0x8000 | 3, 0x6000 | 10, 0xA000 | (5 << 8) | 1, 0x0001, 0x2002, 0x6000 | 11, 0xA000 | (5 << 8)]
    _raw_file(tmp_path / "t.raw", "evt3", words)
    got, _, trig, _ = read_all(tmp_path / "t.raw")
    assert len(got) == 1
    assert trig.tolist() == [((3 << 12) + 10, 5, 1), ((3 << 12) + 11, 5, 0)]
    words2 = [(0x8 << 28) | 2, (0xA << 28) | (9 << 22) | (3 << 8) | 1]
    _raw_file(tmp_path / "t2.raw", "evt2", words2)
    assert read_all(tmp_path / "t2.raw")[2].tolist() == [((2 << 6) | 9, 3, 1)]


def test_t0_header_keeps_the_origin(tmp_path):
    h = f"% evt 3.0\n% format EVT3;width={W};height={H}\n% t0 5000000000\n% end\n"
    _raw_file(tmp_path / "o.raw", "evt3", [0x8001, 0x0002, 0x2003], header=h)
    got, *_ = read_all(tmp_path / "o.raw")
    assert got["t"].tolist() == [5_000_000_000 + 4096]


# ------------------------------------------------------------------------------------------ spec-built files
@pytest.mark.parametrize("legacy", [False, True])
def test_evt21_from_spec_encoder(tmp_path, legacy):
    ev = fr.moving_edges(20_000, W, H, t0=99, runs=True, seed=11)
    (tmp_path / "e.raw").write_bytes(fr.encode_evt21(ev, W, H, legacy=legacy))
    assert detect_format(tmp_path / "e.raw") == "evt21"
    got, stats, _, (_, w, h) = read_all(tmp_path / "e.raw", block_bytes=24)
    assert (w, h) == (W, H) and not any(stats.values())
    np.testing.assert_array_equal(got, ev)


def test_aedat2_dvs128_and_davis_from_spec_encoder(tmp_path):
    ev = fr.moving_edges(5000, 128, 128, t0=(1 << 32) - 2000, seed=12)  # crosses the 32-bit wrap
    (tmp_path / "a.aedat").write_bytes(fr.encode_aedat2(ev, "dvs128"))
    got, stats, _, (f, w, h) = read_all(tmp_path / "a.aedat")
    assert (f, w, h) == ("aedat2", 128, 128)
    np.testing.assert_array_equal(got, ev)
    ev2 = fr.moving_edges(5000, 346, 260, seed=13)
    extra = [(10, 1 << 31, 5), (20, 1 << 10, 6)]  # an APS sample and an IMU record
    (tmp_path / "b.aedat").write_bytes(fr.encode_aedat2(ev2, "davis", extra_records=extra))
    got, stats, _, (_, w, h) = read_all(tmp_path / "b.aedat")
    assert (w, h) == (346, 260) and stats["non_dvs_records"] == 2
    np.testing.assert_array_equal(got, ev2)
    flipped, *_ = read_all(tmp_path / "b.aedat", flip_y=True)
    np.testing.assert_array_equal(flipped["y"], 259 - ev2["y"])
    # no chip class in the header: the layout is guessed from the address bits
    (tmp_path / "c.aedat").write_bytes(fr.encode_aedat2(ev2, "davis", header=[]))
    got, *_ = read_all(tmp_path / "c.aedat")
    np.testing.assert_array_equal(got, ev2)


def test_aedat31_from_spec_encoder(tmp_path):
    ev = fr.moving_edges(8000, 346, 260, t0=(1 << 31) - 3000, seed=14)  # crosses a TSOverflow
    data = fr.encode_aedat31(ev, packet_events=333, invalid_every=5, triggers=[(10, True), (20, False)])
    (tmp_path / "a.aedat").write_bytes(data)
    assert detect_format(tmp_path / "a.aedat") == "aedat3"
    got, stats, trig, (_, w, h) = read_all(tmp_path / "a.aedat")
    keep = np.arange(len(ev)) % 5 != 4
    assert (w, h) == (346, 260) and stats["invalid_events"] == (~keep).sum()
    np.testing.assert_array_equal(got, ev[keep])
    assert trig.tolist() == [(10, 0, 1), (20, 0, 0)]


def test_aedat4_without_data_table_and_with_other_streams(tmp_path):
    ev = fr.moving_edges(9000, W, H, seed=15)
    write(tmp_path / "a.aedat4", ev, "aedat4", packet_events=1000)
    data = bytearray((tmp_path / "a.aedat4").read_bytes())
    hlen = struct.unpack_from("<i", data, 14)[0]
    start = 18 + hlen
    # append a packet of an unknown stream id 7 and a garbage tail that looks like a torn packet header
    data += struct.pack("<ii", 7, 4) + b"abcd" + struct.pack("<i", 0)
    (tmp_path / "b.aedat4").write_bytes(bytes(data))
    got, stats, _, _ = read_all(tmp_path / "b.aedat4")
    np.testing.assert_array_equal(got, ev)
    assert stats["other_stream_packets"] == 1 and stats["truncated_packets"] == 1
    # a corrupted packet body is skipped, the rest still read
    sid, size = struct.unpack_from("<ii", data, start)
    data[start + 8:start + 8 + size] = b"\xff" * size
    (tmp_path / "c.aedat4").write_bytes(bytes(data))
    got, stats, _, _ = read_all(tmp_path / "c.aedat4")
    assert stats["bad_packets"] == 1
    np.testing.assert_array_equal(got, ev[1000:])


def test_npy_reads_faery_style_fields(tmp_path):
    a = np.zeros(5, [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    a["t"] = np.arange(5) * 10
    a["x"] = 1
    a["on"] = [1, 0, 1, 0, 1]
    np.save(tmp_path / "f.npy", a)
    got, *_ = read_all(tmp_path / "f.npy")
    assert got["t"].tolist() == [0, 10, 20, 30, 40] and got["p"].tolist() == [1, 0, 1, 0, 1]
    np.save(tmp_path / "g.npy", np.zeros(4))
    with pytest.raises(EventFormatError, match="structured"):
        open_reader(tmp_path / "g.npy")


def test_detect_format_errors(tmp_path):
    (tmp_path / "x.raw").write_bytes(b"\x00" * 10)
    with pytest.raises(EventFormatError, match="format="):
        detect_format(tmp_path / "x.raw")
    (tmp_path / "x.bin").write_bytes(b"hello")
    with pytest.raises(EventFormatError):
        open_reader(tmp_path / "x.bin")
    (tmp_path / "y.aedat").write_bytes(b"#!AER-DAT1.0\r\n")
    with pytest.raises(EventFormatError, match="unsupported AEDAT"):
        open_reader(tmp_path / "y.aedat")
    with pytest.raises(FileNotFoundError):
        open_reader(tmp_path / "missing.raw")
    with pytest.raises(KeyError, match="unknown event format"):
        open_reader(tmp_path / "x.raw", format="evt9")


@pytest.mark.parametrize("fmt", ["evt2", "evt3", "dat", "aedat4"])
def test_memory_stays_bounded(tmp_path, fmt):
    """Reading a file much larger than one chunk never holds more than a few chunks and one block."""
    import tracemalloc

    ev = fr.moving_edges(1_500_000, W, H, seed=17)  # 19.5 MB decoded
    p = tmp_path / "big"
    write(p, ev, fmt)
    del ev
    tracemalloc.start()
    try:
        with open_reader(p, format=fmt, chunk_events=1 << 15, **({} if fmt == "aedat4" else
                                                                 {"block_bytes": 1 << 16})) as r:
            n = 0
            for chunk in r:
                n += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 1_500_000
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB"


def test_sensor_size_from_an_old_raw_header(tmp_path):
    h = "% Date 2019-01-01 10:00:00\n% evt 2.0\n% plugin_name hal_plugin_gen31_fx3\n"
    _raw_file(tmp_path / "g.raw", "evt2", [(0x8 << 28) | 1, (1 << 28) | (639 << 11) | 479], header=h)
    got, _, _, (f, w, h_) = read_all(tmp_path / "g.raw")
    assert (f, w, h_) == ("evt2", 640, 480) and len(got) == 1


def test_writers_accept_faery_style_arrays(tmp_path):
    a = np.zeros(3, [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    a["t"] = [5, 6, 7]
    a["x"] = [1, 2, 3]
    a["on"] = [True, False, True]
    with open_writer(tmp_path / "f.raw", width=W, height=H) as w:
        w.write(a)
    got, *_ = read_all(tmp_path / "f.raw")
    assert got["t"].tolist() == [5, 6, 7] and got["p"].tolist() == [1, 0, 1] and got["x"].tolist() == [1, 2, 3]


def test_csv_variants_and_bad_lines(tmp_path):
    (tmp_path / "a.csv").write_text("timestamp;x;y;polarity\n1;2;3;1\n2;2;x;1\n3;-1;3;0\n4.5e0;5;6;-1\n")
    got, stats, _, (f, w, h) = read_all(tmp_path / "a.csv", block_bytes=1)
    assert f == "csv" and (w, h) == (None, None)
    assert got.tolist() == [(2, 3, 1, 1), (5, 6, 4, 0)]
    assert stats == {"bad_lines": 1, "out_of_bounds": 1}
    # no header, whitespace separated, seconds, columns named explicitly
    (tmp_path / "b.txt").write_text("0.000001 1 4 5\n0.5 0 6 7\n")
    got, *_ = read_all(tmp_path / "b.txt", columns="t,p,x,y", t_scale=1e6)
    assert got.tolist() == [(4, 5, 1, 1), (6, 7, 500000, 0)]
    with pytest.raises(EventFormatError, match="lack"):
        open_reader(tmp_path / "b.txt", columns="t,x,y")
