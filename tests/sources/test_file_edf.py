"""`kind = "file_source"` replays EDF/BDF recordings (written by pyedflib, a library nobody here wrote):
the node emits the file's physical values with their times, counts an EDF+D pause as a gap, plays a
truncated file's whole records, and refuses a bad file or selection at setup with the file's name."""

import numpy as np
import pytest

from spikestream.testing import NodeHarness

pyedflib = pytest.importorskip("pyedflib")
from pyedflib import highlevel  # noqa: E402

T0 = 1_000_000_000_000


def _node(**params):
    h = NodeHarness("file_source", params, name="rec")
    return h.node, h.out  # h.out: (port, body, t_us, origin_ns) per emit


def _drain(n, out):
    polls = 0
    while not n.finished and polls < 1000:
        n.poll(T0 + polls)
        polls += 1
    n.close()
    assert n.finished
    t = np.concatenate([b.t_us for _, b, *_ in out])
    x = np.concatenate([b.data for _, b, *_ in out])
    return t, x


def _write_bdf(path, seconds=4):
    rng = np.random.default_rng(1)
    sigs = [rng.standard_normal(512 * seconds) * 100 for _ in range(2)] + [np.zeros(seconds)]
    heads = [highlevel.make_signal_header(n, "uV", 512, -1000, 1000, -8388608, 8388607) for n in ("C3", "C4")]
    heads.append(highlevel.make_signal_header("Status", "", 1, -1, 1, -8388608, 8388607))
    highlevel.write_edf(str(path), sigs, heads, file_type=pyedflib.FILETYPE_BDFPLUS)


def test_bdf_replays_the_files_values_and_times(tmp_path):
    path = tmp_path / "run.bdf"
    _write_bdf(path)
    ref, _, _ = highlevel.read_edf(str(path))
    n, out = _node(path=str(path), pace="fast", chunk=64, progress=False)
    assert n.src.channels == ["C3", "C4"] and n.src.rate_hz == 512
    t, x = _drain(n, out)
    assert all(p == "samples" for p, *_ in out) and out[0][1].channels == ["C3", "C4"]
    np.testing.assert_array_equal(t, np.round(np.arange(2048) * 1e6 / 512).astype(np.int64))
    np.testing.assert_allclose(x, np.stack(ref[:2], 1).astype(np.float32), rtol=1e-6, atol=1e-4)
    assert n.counters["gaps"] == 0 and n.counters["samples_out"] == 2048


def test_edf_plus_d_pause_is_a_counted_gap_and_a_truncated_file_plays_whole_records(tmp_path):
    path = tmp_path / "run.edf"
    heads = [highlevel.make_signal_header("EMG", "uV", 100, -500, 500, -32768, 32767)]
    highlevel.write_edf(str(path), [np.linspace(-400, 400, 500)], heads, file_type=pyedflib.FILETYPE_EDFPLUS)
    from spikestream.record.edf import read_header

    hdr = read_header(path)
    ann = next(s for s in hdr.signals if s.is_annotation)
    raw = bytearray(path.read_bytes())
    raw[192:197] = b"EDF+D"
    for k, onset in enumerate([0, 1, 2, 6, 7]):  # a 3 s pause after record 2
        at = hdr.header_bytes + k * hdr.record_bytes + ann.offset
        raw[at:at + 6] = f"+{onset}".encode() + b"\x14\x14\x00" + b"\x00" * (3 - len(str(onset)))
    path.write_bytes(bytes(raw[:-hdr.record_bytes // 2]))  # and cut inside the last record
    n, out = _node(path=str(path), pace="fast", chunk=50, progress=False)
    t, x = _drain(n, out)
    assert t.size == 400 and t[299] == 2_990_000 and t[300] == 6_000_000
    assert n.counters["gaps"] == 1 and n.counters["missing_samples"] == 300
    assert n.counters["partial_frames"] == 1


def test_bad_files_and_selections_fail_setup_naming_the_file(tmp_path):
    path = tmp_path / "run.bdf"
    _write_bdf(path)
    with pytest.raises(ValueError, match=r"run\.bdf: .*different rates"):
        _node(path=str(path), columns=["C3", "Status"])
    with pytest.raises(ValueError, match=r"run\.bdf: .*no signal 'Cz'"):
        _node(path=str(path), columns=["Cz"])
    with pytest.raises(ValueError, match=r"run\.bdf: 2 channels where 3 are expected"):
        _node(path=str(path), channels=3)
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"0       " + b"x" * 100)
    with pytest.raises(ValueError, match=r"bad\.edf: 108 bytes, shorter than the 256-byte header"):
        _node(path=str(bad))
