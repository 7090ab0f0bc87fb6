"""The EDF/EDF+/BDF reader (spikestream.record.edf) against pyedflib (EDFlib's writer and reader, which
nobody here wrote) on files pyedflib writes: physical values, digital values, rates, labels; then the
cases pyedflib does not write (EDF+D) and bad input (truncated, corrupt headers, wrong selections)."""

import logging

import numpy as np
import pytest

from spikestream.record.edf import read_edf, read_header

pyedflib = pytest.importorskip("pyedflib")
from pyedflib import highlevel  # noqa: E402

KINDS = {"EDF": (pyedflib.FILETYPE_EDF, "edf", 32767), "EDF+C": (pyedflib.FILETYPE_EDFPLUS, "edf", 32767),
         "BDF": (pyedflib.FILETYPE_BDF, "bdf", 8388607), "BDF+C": (pyedflib.FILETYPE_BDFPLUS, "bdf", 8388607)}


def _write(path, kind, seconds=5, seed=0):
    """Three EEG-like signals at 256 Hz, a 10 Hz temperature, written by pyedflib in `kind`."""
    ft, _, dmax = KINDS[kind]
    rng = np.random.default_rng(seed)
    sigs = [np.clip(rng.standard_normal(256 * seconds) * 60, -299, 299) for _ in range(3)]
    sigs.append(np.linspace(-9, 9, 10 * seconds))
    heads = [highlevel.make_signal_header(f"EEG {n}", "uV", 256, -300, 300, -dmax - 1, dmax) for n in ("Fz", "Cz", "Pz")]
    heads.append(highlevel.make_signal_header("Temp", "degC", 10, -10, 10, -dmax - 1, dmax))
    highlevel.write_edf(str(path), sigs, heads, file_type=ft)
    return sigs


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_values_rates_and_labels_equal_pyedflib(tmp_path, kind):
    path = tmp_path / f"rec.{KINDS[kind][1]}"
    _write(path, kind)
    ref, ref_heads, _ = highlevel.read_edf(str(path))
    dig, _, _ = highlevel.read_edf(str(path), digital=True)
    hdr = read_header(path)
    assert hdr.format == kind and hdr.n_records == 5 and hdr.record_s == 1.0
    assert hdr.sample_bytes == (3 if kind.startswith("BDF") else 2)
    assert [s.label for s in hdr.data_signals] == [h["label"] for h in ref_heads]
    assert any(s.is_annotation for s in hdr.signals) == kind.endswith("+C")

    d = read_edf(path)  # default: the three 256 Hz signals; Temp (10 Hz) and annotations left out
    assert d.names == ["EEG Fz", "EEG Cz", "EEG Pz"] and d.rate_hz == 256.0 and d.data.shape == (1280, 3)
    for j in range(3):
        np.testing.assert_allclose(d.data[:, j], ref[j], rtol=0, atol=1e-9)
        s = hdr.data_signals[j]  # digital values: invert our scaling, must be the file's integers exactly
        back = (d.data[:, j] - s.phys_min) * (s.dig_max - s.dig_min) / (s.phys_max - s.phys_min) + s.dig_min
        np.testing.assert_array_equal(np.round(back).astype(np.int64), dig[j])
    np.testing.assert_array_equal(d.t_us, np.round(np.arange(1280) * 1e6 / 256).astype(np.int64))

    temp = read_edf(path, columns=["Temp"])
    assert temp.rate_hz == 10.0 and temp.t_us[1] == 100_000
    np.testing.assert_allclose(temp.data[:, 0], ref[3], atol=1e-9)
    by_index = read_edf(path, columns=[2, 0])
    np.testing.assert_array_equal(by_index.data, d.data[:, [2, 0]])


def test_default_selection_logs_the_signals_left_out(tmp_path, caplog):
    path = tmp_path / "rec.edf"
    _write(path, "EDF+C")
    with caplog.at_level(logging.INFO, logger="spikestream.record.edf"):
        read_edf(path)
    assert "rec.edf" in caplog.text and "Temp (10 Hz)" in caplog.text


def _patch_discontinuous(path, onsets):
    """pyedflib writes EDF+C only: turn a file into EDF+D by rewriting the reserved field and each record's
    time-keeping annotation (TAL) to `onsets`."""
    hdr = read_header(path)
    ann = next(s for s in hdr.signals if s.is_annotation)
    raw = bytearray(path.read_bytes())
    raw[192:197] = hdr.format[:3].encode() + b"+D"
    for k, onset in enumerate(onsets):
        at = hdr.header_bytes + k * hdr.record_bytes + ann.offset
        tal = f"+{onset:g}".encode() + b"\x14\x14\x00"
        size = ann.samples_per_record * hdr.sample_bytes
        raw[at:at + size] = tal + bytes(size - len(tal))
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("kind", ["EDF+C", "BDF+C"])
def test_discontinuous_records_take_their_onsets(tmp_path, kind):
    path = tmp_path / f"d.{KINDS[kind][1]}"
    _write(path, kind)
    before = read_edf(path)
    onsets = [0, 1, 2, 10, 11.5]
    _patch_discontinuous(path, onsets)
    d = read_edf(path)
    assert d.header.discontinuous and d.header.format == kind[:3] + "+D"
    want = np.round((np.array(onsets)[:, None] + np.arange(256)[None, :] / 256) * 1e6).astype(np.int64).reshape(-1)
    np.testing.assert_array_equal(d.t_us, want)
    np.testing.assert_array_equal(d.data, before.data)  # only the times moved


def test_discontinuous_without_time_keeping_annotation_is_refused(tmp_path):
    path = tmp_path / "d.edf"
    _write(path, "EDF+C")
    _patch_discontinuous(path, [0, 1, 2, 3, 4])
    hdr = read_header(path)
    ann = next(s for s in hdr.signals if s.is_annotation)
    raw = bytearray(path.read_bytes())
    at = hdr.header_bytes + 2 * hdr.record_bytes + ann.offset
    raw[at:at + 4] = b"xx\x14\x14"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"d\.edf.*data record 2 .*time-keeping"):
        read_edf(path)


@pytest.mark.parametrize("kind", ["EDF", "BDF+C"])
def test_truncated_file_gives_its_whole_records(tmp_path, kind, caplog):
    path = tmp_path / f"cut.{KINDS[kind][1]}"
    _write(path, kind)
    full = read_edf(path)
    hdr = read_header(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:hdr.header_bytes + 3 * hdr.record_bytes + hdr.record_bytes // 2])
    with caplog.at_level(logging.WARNING, logger="spikestream.record.edf"):
        d = read_edf(path)
    assert "truncated" in caplog.text and str(path) in caplog.text
    assert d.header.n_records == 3 and d.header.partial_bytes == hdr.record_bytes // 2
    np.testing.assert_array_equal(d.data, full.data[:3 * 256])
    path.write_bytes(raw[:hdr.header_bytes + 10])
    with pytest.raises(ValueError, match=r"cut\.\w+: no whole data record"):
        read_edf(path)
    path.write_bytes(raw[:300])
    with pytest.raises(ValueError, match=r"cut\.\w+: .*shorter than its \d+-byte header"):
        read_edf(path)
    path.write_bytes(raw[:100])
    with pytest.raises(ValueError, match=r"cut\.\w+: 100 bytes, shorter than the 256-byte header"):
        read_edf(path)


def _field(raw: bytearray, at: int, width: int, text: str):
    raw[at:at + width] = text.encode().ljust(width)


def test_corrupt_headers_are_errors_naming_the_file_and_field(tmp_path):
    path = tmp_path / "c.edf"
    _write(path, "EDF")
    good = bytearray(path.read_bytes())
    ns = 4
    dig_min_at = 256 + ns * (16 + 80 + 8 + 8 + 8)
    dig_max_at = dig_min_at + ns * 8
    cases = [
        (lambda r: _field(r, 0, 8, "1"), "version field"),
        (lambda r: _field(r, 236, 8, "many"), "'number of data records' is 'many'"),
        (lambda r: _field(r, 244, 8, "0"), "last 0 s"),
        (lambda r: _field(r, 184, 8, "512"), "header size field says 512"),
        (lambda r: _field(r, 252, 4, "x"), "'number of signals'"),
        (lambda r: _field(r, dig_max_at + 8, 8, "-40000"), r"signal 1 \('EEG Cz'\) digital range"),
        (lambda r: _field(r, dig_min_at, 8, "abc"), r"'digital minimum' of signal 0 \('EEG Fz'\) is 'abc'"),
    ]
    for corrupt, match in cases:
        raw = bytearray(good)
        corrupt(raw)
        path.write_bytes(bytes(raw))
        with pytest.raises(ValueError, match=r"c\.edf: .*" + match):
            read_edf(path)


def test_random_header_damage_is_a_clear_error_or_a_reading_never_a_crash(tmp_path):
    path = tmp_path / "fuzz.bdf"
    _write(path, "BDF+C", seconds=2)
    good = path.read_bytes()
    hdr_len = read_header(path).header_bytes
    rng = np.random.default_rng(7)
    outcomes = {"read": 0, "error": 0}
    for _ in range(300):
        raw = bytearray(good)
        for at in rng.integers(0, hdr_len, int(rng.integers(1, 6))):
            raw[at] = int(rng.choice([rng.integers(0, 256), ord(" "), ord("9"), ord("-")]))
        path.write_bytes(bytes(raw))
        try:
            d = read_edf(path)
            assert d.data.shape[0] == d.t_us.size and np.isfinite(d.data).all()
            outcomes["read"] += 1
        except ValueError as e:
            assert "fuzz.bdf" in str(e)
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and outcomes["read"] > 0


def test_wrong_selections_are_errors_listing_the_signals(tmp_path):
    path = tmp_path / "s.edf"
    _write(path, "EDF+C")
    for columns, match in (
        (["EEG Oz"], r"no signal 'EEG Oz'; signals are \['EEG Fz', 'EEG Cz', 'EEG Pz', 'Temp'\]"),
        ([9], r"index 9 out of range \(0\.\.4\)"),
        ([4], r"signal 4 \('EDF Annotations'\) holds annotations"),
        (["EEG Fz", "Temp"], r"different rates \(EEG Fz 256 Hz, Temp 10 Hz\)"),
        (["EEG Fz", 0], "chosen twice"),
        ([1.5], "a signal label or index"),
        ([], "chooses no signal"),
    ):
        with pytest.raises(ValueError, match=r"s\.edf: .*" + match):
            read_edf(path, columns=columns)
