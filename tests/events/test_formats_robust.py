"""Damaged files: cut at random offsets, random bit flips, zero length, header only. Every reader must give
a clear EventFormatError or a clean read — never a crash, a hang or out-of-range events — and a truncated
file must read as an exact prefix of the intact one. Seeded fuzz loops with a fixed bound."""

from pathlib import Path

import numpy as np
import pytest

import events_format_reference as fr
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import EventFormatError, open_reader, open_writer

W, H = 320, 240
FORMATS = ["evt2", "evt21", "evt3", "dat", "aedat2", "aedat3", "aedat4", "npy", "csv"]
#: formats whose truncation must give an exact prefix (packet formats lose at most the torn packet)
N_EVENTS = 3000


def _make(path: Path, fmt: str) -> np.ndarray:
    if fmt in ("aedat2", "aedat3"):
        ev = fr.moving_edges(N_EVENTS, 346, 260, t0=5000, seed=1)
        path.write_bytes(fr.encode_aedat2(ev, "davis") if fmt == "aedat2" else
                         fr.encode_aedat31(ev, packet_events=200))
        return ev
    ev = fr.moving_edges(N_EVENTS, W, H, t0=5000, runs=True, seed=1)
    if fmt == "evt21":
        path.write_bytes(fr.encode_evt21(ev, W, H))
        return ev
    kw = {"packet_events": 200} if fmt == "aedat4" else {}
    with open_writer(path, format=fmt, width=W, height=H, **kw) as w:
        w.write(ev)
    return ev


def _read(path: Path, fmt: str):
    """(events, width, height) or None when the reader refused the file with a clear error."""
    try:
        with open_reader(path, format=fmt, block_bytes=997) if fmt not in ("aedat3", "aedat4", "npy", "csv") \
                else open_reader(path, format=fmt) as r:
            parts = []
            for _ in range(10_000):  # bounded: a reader that never ends would fail here, not hang
                a = r.read(512)
                if len(a) == 0:
                    break
                assert len(a) <= 512
                parts.append(a)
            else:
                pytest.fail("reader did not reach the end")
            ev = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
            return ev, r.width, r.height
    except EventFormatError as e:
        assert str(e)  # a message that says what is wrong
        return None


def _check_sane(out, size):
    if out is None:
        return
    ev, w, h = out
    if w is not None:
        assert np.all(ev["x"] < w) and np.all(ev["y"] < h)
    assert np.all(ev["p"] <= 1)
    assert len(ev) <= 32 * size  # no format packs more than 32 events per byte... far less in fact


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files_read_as_prefix(tmp_path, fmt):
    full = tmp_path / "full"
    ev = _make(full, fmt)
    data = full.read_bytes()
    rng = np.random.default_rng(42)
    cuts = sorted(set(rng.integers(0, len(data), 25).tolist()) | {0, 1, 10, len(data) - 1})
    for cut in cuts:
        p = tmp_path / "cut"
        p.write_bytes(data[:cut])
        out = _read(p, fmt)
        _check_sane(out, cut)
        if out is not None:
            got = out[0]
            n = len(got)
            if fmt == "aedat3":  # the reference keeps every event valid here
                np.testing.assert_array_equal(got, ev[:n])
            else:
                np.testing.assert_array_equal(got, ev[:n], err_msg=f"{fmt} cut at {cut}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fmt", FORMATS)
def test_bit_flips_never_crash(tmp_path, fmt):
    full = tmp_path / "full"
    _make(full, fmt)
    data = np.frombuffer(full.read_bytes(), np.uint8)
    rng = np.random.default_rng(7)
    for trial in range(30):
        bad = data.copy()
        k = int(rng.integers(1, 20))
        pos = rng.integers(0, len(bad), k)
        bad[pos] ^= (1 << rng.integers(0, 8, k)).astype(np.uint8)
        p = tmp_path / f"flip{trial}"
        p.write_bytes(bad.tobytes())
        _check_sane(_read(p, fmt), len(bad))


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_length_and_header_only(tmp_path, fmt):
    p = tmp_path / "empty"
    p.write_bytes(b"")
    out = _read(p, fmt)
    assert out is None or len(out[0]) == 0
    full = tmp_path / "full"
    _make(full, fmt)
    with open_reader(full, format=fmt) as r:
        header_end = {"aedat4": None}.get(fmt, getattr(r, "_f").tell())
    if fmt == "aedat4":
        import struct
        header_end = 18 + struct.unpack_from("<i", full.read_bytes(), 14)[0]
    if fmt == "npy":
        header_end = 128
    if fmt == "csv":
        header_end = full.read_bytes().index(b"\n") + 1
    p = tmp_path / "header"
    p.write_bytes(full.read_bytes()[:header_end])
    out = _read(p, fmt)
    assert out is None or len(out[0]) == 0


def test_random_bytes_with_a_valid_header(tmp_path):
    """Pure noise after a valid header: all counted, none out of range, for the stateful word formats."""
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    for fmt, head in [("evt3", f"% format EVT3;width={W};height={H}\n% end\n"),
                      ("evt2", f"% format EVT2;width={W};height={H}\n% end\n"),
                      ("evt21", f"% format EVT21;width={W};height={H}\n% end\n"),
                      ("dat", f"% Version 2\n% Width {W}\n% Height {H}\n")]:
        p = tmp_path / fmt
        p.write_bytes(head.encode() + (b"\x0c\x08" if fmt == "dat" else b"") + noise)
        with open_reader(p, format=fmt) as r:
            ev = np.concatenate(list(r))
            assert np.all(ev["x"] < W) and np.all(ev["y"] < H)
            assert sum(r.stats.values()) > 0
