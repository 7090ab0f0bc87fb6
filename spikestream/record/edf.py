"""EDF, EDF+ and BDF (BioSemi's 24-bit EDF) recordings, read here with numpy and the standard library only.

Layout (https://www.edfplus.info/specs/edf.html, /edfplus.html; BioSemi's BDF): a 256-byte ASCII header
(version ``0`` or ``\\xffBIOSEMI``, patient, recording, start date and time, header size, reserved —
``EDF+C``/``EDF+D`` for EDF+, ``24BIT``/``BDF+C``/``BDF+D`` for BDF —, the number of data records (-1 while
a recorder still writes), a record's duration in seconds and the number of signals ``ns``), then ``ns`` x
256 bytes of signal headers stored field by field (all labels, then all transducers, ...): label,
transducer, physical unit, physical min/max, digital min/max, prefilter, samples per record, reserved.
Then the data records: per record, per signal, its samples as little-endian int16 (EDF) or int24 (BDF).

- **Rates**: a signal's rate is its samples per record / the record's duration. Without a selection the
  reader takes the ordinary signals at the rate most of them share (a tie: the highest) and logs the ones
  it leaves out; a selection mixing rates is an error (resample elsewhere: nothing is resampled here).
- **Values**: ``phys = (dig - dig_min) * (phys_max - phys_min) / (dig_max - dig_min) + phys_min``.
- **Annotations** (``EDF Annotations``/``BDF Annotations`` signals) are never data; in EDF+D (discontinuous)
  each record's onset is read from its first annotation (the time-keeping TAL ``+onset\\x14\\x14``), so a
  sample's time is its record's onset plus k / rate and the pauses show as gaps (the file source counts
  them). Plain EDF and EDF+C records follow each other: record k starts at k x duration.
- **Times** are seconds from the header's start date and time (``t_us`` from 0 for a plain file).
- **Bad input**: a short or corrupt header, a field that is not a number, an impossible range, a selection
  naming no signal: a ValueError naming the file and the field. A file cut inside its data (or holding
  fewer records than its header says) gives its whole records and a WARNING naming the file; the partial
  record is never used.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
_SIGNAL_FIELDS = (  # (name, width in bytes) in the order the header stores them
    ("label", 16), ("transducer", 80), ("unit", 8), ("phys_min", 8), ("phys_max", 8), ("dig_min", 8),
    ("dig_max", 8), ("prefilter", 80), ("samples_per_record", 8), ("reserved", 32))


@dataclass(frozen=True, slots=True)
class EDFSignal:
    index: int
    label: str
    transducer: str
    unit: str
    phys_min: float
    phys_max: float
    dig_min: int
    dig_max: int
    prefilter: str
    samples_per_record: int
    rate_hz: float
    offset: int  # byte offset of the signal inside a data record

    @property
    def is_annotation(self) -> bool:
        return self.label in ANNOTATION_LABELS


@dataclass(frozen=True, slots=True)
class EDFHeader:
    path: Path
    format: str  # "EDF", "EDF+C", "EDF+D", "BDF", "BDF+C", "BDF+D"
    patient: str
    recording: str
    start: str  # "dd.mm.yy hh.mm.ss" as stored
    header_bytes: int
    n_records_header: int  # -1: not written (a recorder still writing)
    record_s: float
    signals: tuple[EDFSignal, ...]
    sample_bytes: int  # 2 (EDF) or 3 (BDF)
    record_bytes: int
    n_records: int  # whole records present in the file (and announced by the header, when it says)
    partial_bytes: int  # bytes after the last whole record used

    @property
    def discontinuous(self) -> bool:
        return self.format.endswith("+D")

    @property
    def data_signals(self) -> list[EDFSignal]:
        return [s for s in self.signals if not s.is_annotation]


class EDFData(NamedTuple):
    t_us: np.ndarray  # int64 [n], from the header's start time
    data: np.ndarray  # float64 [n, C], physical values
    names: list[str]  # the signals' labels
    rate_hz: float
    header: EDFHeader


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").strip()


def _number(path, raw: bytes, what: str, conv=float):
    s = _text(raw)
    try:
        v = float(s)
        if conv is int:
            if not v.is_integer():
                raise ValueError
            v = int(v)
    except (ValueError, OverflowError):
        raise ValueError(f"EDF file {path}: header field {what} is {s!r}, not a number (a corrupt header?)") from None
    if conv is float and not np.isfinite(v):
        raise ValueError(f"EDF file {path}: header field {what} is {s!r}, not a finite number")
    return v


def read_header(path, log: logging.Logger | None = None) -> EDFHeader:
    """Parse and check the header of an EDF/EDF+/BDF file; count the whole data records it holds."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(256)
        if len(head) < 256:
            raise ValueError(f"EDF file {p}: {size} bytes, shorter than the 256-byte header (not an EDF/BDF file, "
                             "or truncated)")
        version = head[:8]
        if version == b"\xffBIOSEMI":
            sample_bytes, family = 3, "BDF"
        elif _text(version) == "0":
            sample_bytes, family = 2, "EDF"
        else:
            raise ValueError(f"EDF file {p}: version field {version!r} is neither EDF's '0' nor BDF's '\\xffBIOSEMI' "
                             "(not an EDF/BDF file)")
        reserved = _text(head[192:236])
        fmt = family
        for tag in ("+C", "+D"):
            if reserved.startswith(("EDF" + tag, "BDF" + tag)):
                fmt = family + tag
        ns = _number(p, head[252:256], "'number of signals'", int)
        if not 1 <= ns <= 4096:
            raise ValueError(f"EDF file {p}: header says {ns} signals (must be 1..4096)")
        header_bytes = _number(p, head[184:192], "'header bytes'", int)
        if header_bytes != 256 * (ns + 1):
            raise ValueError(f"EDF file {p}: header size field says {header_bytes} bytes, but {ns} signals need "
                             f"{256 * (ns + 1)} (a corrupt header)")
        rest = f.read(256 * ns)
    if len(rest) < 256 * ns:
        raise ValueError(f"EDF file {p}: {size} bytes, shorter than its {header_bytes}-byte header (truncated)")
    n_records_header = _number(p, head[236:244], "'number of data records'", int)
    record_s = _number(p, head[244:252], "'duration of a data record'")
    if n_records_header < -1:
        raise ValueError(f"EDF file {p}: number of data records {n_records_header} (must be >= 0, or -1)")
    if not record_s > 0:
        raise ValueError(f"EDF file {p}: data records last {record_s:g} s; a file of signals needs a duration > 0")

    fields: dict[str, list[bytes]] = {}
    pos = 0
    for name, width in _SIGNAL_FIELDS:
        fields[name] = [rest[pos + i * width:pos + (i + 1) * width] for i in range(ns)]
        pos += ns * width
    signals = []
    offset = 0
    for i in range(ns):
        label = _text(fields["label"][i])
        what = f"of signal {i} ({label!r})"
        dmin = _number(p, fields["dig_min"][i], f"'digital minimum' {what}", int)
        dmax = _number(p, fields["dig_max"][i], f"'digital maximum' {what}", int)
        pmin = _number(p, fields["phys_min"][i], f"'physical minimum' {what}")
        pmax = _number(p, fields["phys_max"][i], f"'physical maximum' {what}")
        spr = _number(p, fields["samples_per_record"][i], f"'samples per record' {what}", int)
        if spr < 1:
            raise ValueError(f"EDF file {p}: signal {i} ({label!r}) has {spr} samples per record (must be >= 1)")
        lim = 1 << (8 * sample_bytes - 1)
        if label not in ANNOTATION_LABELS:
            if not -lim <= dmin < dmax < lim:
                raise ValueError(f"EDF file {p}: signal {i} ({label!r}) digital range [{dmin}, {dmax}] is empty or "
                                 f"outside the {8 * sample_bytes}-bit range")
            if pmin == pmax:
                raise ValueError(f"EDF file {p}: signal {i} ({label!r}) physical range [{pmin}, {pmax}] is empty")
        signals.append(EDFSignal(i, label, _text(fields["transducer"][i]), _text(fields["unit"][i]), pmin, pmax, dmin,
                                 dmax, _text(fields["prefilter"][i]), spr, spr / record_s, offset))
        offset += spr * sample_bytes
    record_bytes = offset
    n_file, partial = divmod(size - header_bytes, record_bytes)
    n_records = n_file if n_records_header == -1 else min(n_file, n_records_header)
    log = log or logging.getLogger("spikestream.record.edf")
    if n_records_header != -1 and n_file < n_records_header:
        log.warning("EDF file %s: truncated: the header announces %d data record(s), the file holds %d whole one(s) "
                    "(+%d byte(s)); reading the %d whole record(s)", p, n_records_header, n_file, partial, n_records)
    elif partial:
        log.warning("EDF file %s: %d byte(s) after the last whole data record (a truncated recording); %d whole "
                    "record(s) read, the partial one skipped", p, partial, n_records)
    elif n_records_header != -1 and n_file > n_records_header:
        log.warning("EDF file %s: %d data record(s) in the file, the header announces %d; reading %d", p, n_file,
                    n_records_header, n_records)
    if n_records == 0:
        raise ValueError(f"EDF file {p}: no whole data record ({size - header_bytes} byte(s) of data, a record is "
                         f"{record_bytes})")
    return EDFHeader(p, fmt, _text(head[8:88]), _text(head[88:168]), f"{_text(head[168:176])} {_text(head[176:184])}",
                     header_bytes, n_records_header, record_s, tuple(signals), sample_bytes, record_bytes, n_records,
                     int(partial) if n_records == n_file else 0)


def choose_signals(hdr: EDFHeader, columns=None, log: logging.Logger | None = None) -> list[EDFSignal]:
    """The signals to read: ``columns`` (labels or indices into the file's signal list), or by default the
    ordinary signals at the rate most of them share (a tie: the highest rate). One rate or a ValueError."""
    p = hdr.path
    data = hdr.data_signals
    if not data:
        raise ValueError(f"EDF file {p}: only annotation signals, no data to replay")
    if columns is None:
        counts = Counter(s.rate_hz for s in data)
        rate = max(counts, key=lambda r: (counts[r], r))
        pick = [s for s in data if s.rate_hz == rate]
        left = [s for s in data if s.rate_hz != rate]
        if left:
            (log or logging.getLogger("spikestream.record.edf")).info(
                "EDF file %s: replaying the %d signal(s) at %g Hz; left out (other rates; choose with 'columns'): %s",
                p, len(pick), rate, ", ".join(f"{s.label} ({s.rate_hz:g} Hz)" for s in left))
        return pick
    if isinstance(columns, (str, int)):
        columns = [columns]
    labels = [s.label for s in hdr.signals]
    pick = []
    for c in columns:
        if isinstance(c, str):
            if c not in labels:
                raise ValueError(f"EDF file {p}: no signal {c!r}; signals are {[s.label for s in data]}")
            s = hdr.signals[labels.index(c)]
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if not 0 <= int(c) < len(hdr.signals):
                raise ValueError(f"EDF file {p}: signal index {c} out of range (0..{len(hdr.signals) - 1})")
            s = hdr.signals[int(c)]
        else:
            raise ValueError(f"EDF file {p}: a column is a signal label or index, got {c!r}")
        if s.is_annotation:
            raise ValueError(f"EDF file {p}: signal {s.index} ({s.label!r}) holds annotations, not samples")
        if s in pick:
            raise ValueError(f"EDF file {p}: signal {s.label!r} chosen twice")
        pick.append(s)
    if not pick:
        raise ValueError(f"EDF file {p}: 'columns' chooses no signal")
    rates = {s.rate_hz for s in pick}
    if len(rates) > 1:
        raise ValueError(f"EDF file {p}: the chosen signals have different rates "
                         f"({', '.join(f'{s.label} {s.rate_hz:g} Hz' for s in pick)}); choose signals of one rate "
                         "(nothing is resampled here)")
    return pick


def _digital(records: np.ndarray, s: EDFSignal, sample_bytes: int) -> np.ndarray:
    """One signal's digital values, int32 [n_records * samples_per_record], from the raw records."""
    b = records[:, s.offset:s.offset + s.samples_per_record * sample_bytes]
    if sample_bytes == 2:
        return np.ascontiguousarray(b).view("<i2").reshape(-1).astype(np.int32)
    wide = np.zeros((b.shape[0], s.samples_per_record, 4), np.uint8)  # [0, lo, mid, hi] little-endian
    wide[:, :, 1:] = b.reshape(b.shape[0], s.samples_per_record, 3)
    return wide.view("<i4").reshape(-1) >> 8  # the arithmetic shift sign-extends the 24 bits


def _record_onsets(hdr: EDFHeader, records: np.ndarray) -> np.ndarray:
    """Seconds from the start of each record: k x duration, or in EDF+D the first TAL of each record."""
    if not hdr.discontinuous:
        return np.arange(hdr.n_records) * hdr.record_s
    ann = next((s for s in hdr.signals if s.is_annotation), None)
    if ann is None:
        raise ValueError(f"EDF file {hdr.path}: {hdr.format} (discontinuous) but no annotation signal holds the "
                         "records' onsets")
    raw = records[:, ann.offset:ann.offset + ann.samples_per_record * hdr.sample_bytes]
    onsets = np.empty(hdr.n_records)
    for k in range(hdr.n_records):
        tal = bytes(raw[k]).split(b"\x14", 1)[0]
        try:
            if tal[:1] not in (b"+", b"-"):
                raise ValueError
            onsets[k] = float(tal.decode("ascii"))
        except ValueError:
            raise ValueError(f"EDF file {hdr.path}: data record {k} does not start with a time-keeping annotation "
                             f"('+onset'), found {tal[:20]!r}") from None
    return onsets


def read_edf(path, columns=None, log: logging.Logger | None = None) -> EDFData:
    """Read the chosen signals (`choose_signals`) of an EDF/EDF+/BDF file as physical values with their times."""
    hdr = read_header(path, log)
    pick = choose_signals(hdr, columns, log)
    rate = pick[0].rate_hz
    spr = pick[0].samples_per_record
    # mapped, not read: only the chosen signals' bytes are copied out (a long EEG file stays on disk)
    records = np.memmap(hdr.path, np.uint8, "r", offset=hdr.header_bytes,
                        shape=(hdr.n_records, hdr.record_bytes))
    data = np.empty((hdr.n_records * spr, len(pick)), np.float64)
    for j, s in enumerate(pick):
        gain = (s.phys_max - s.phys_min) / (s.dig_max - s.dig_min)
        data[:, j] = (_digital(records, s, hdr.sample_bytes) - s.dig_min) * gain + s.phys_min
    onsets = _record_onsets(hdr, records)
    t = np.round((onsets[:, None] + np.arange(spr)[None, :] / rate) * 1e6).astype(np.int64).reshape(-1)
    return EDFData(t, data, [s.label for s in pick], float(rate), hdr)
