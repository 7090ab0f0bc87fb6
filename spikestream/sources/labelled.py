"""Labelled replay: a list of recordings played one after another, each row with its target.

A replay has a **calibration set** and an **evaluation set** (lists of paths or globs, ``$VAR`` expanded,
matches in natural order: ``classe_2`` before ``classe_10``); the calibration files play first. Every row
gets a target row ``[label(s)..., phase]`` with ``phase`` 1 in the calibration set and 0 in the evaluation
set. Labels come from one of:

- ``label = "classe_(\\d+)"``: a regex searched in each file's name (its first group, else the match);
- ``labels = [..]``: one per file, in play order;
- ``label_column = "gesture"`` (or an index, or a list of them): columns of the file itself, removed from
  the data;
- ``side_file = "{dir}/{stem}.labels.csv"``: a CSV per recording (optional header) whose rows are the
  targets of the recording's rows (continuous targets too); ``{dir}``, ``{stem}``, ``{name}`` are the
  recording's folder, name without suffix, and name.

or none (the target row is ``[phase]``). ``label_map`` turns a label into a number: ``"mod 7"`` (an integer
label modulo 7) or a table ``{"fist" = 1, ...}``; a label the map lacks is an error naming the file.

Time is continuous: file ``i+1`` starts ``gap_s`` (default 0: one sample period) after file ``i``'s last
row, so time never goes back. Bad input, by file: rows holding NaN/inf (data or target) are dropped and
counted (``rejected_nonfinite``), as are rows whose time does not increase (``rejected_time``); a raw
file's trailing partial frame is skipped and counted (``partial_frames``); a side file shorter than its
recording leaves the unlabelled tail out, counted (``unlabelled_rows``) and logged with both names; a file
of another width than ``channels`` (or than the first file), an unknown label, a label regex that does not
match: an error naming the file, or with ``bad_files = "skip"`` an ERROR line and the file left out
(``skipped_files``). Nothing is half-read: a file is wholly in or wholly out.

All rows are held in memory as float32 (the Myo set: 28 files x ~1000 rows x 8 channels per person).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikestream.registry import SOURCES
from spikestream.sources._base import NO_TIME, TimeChecker
from spikestream.sources.files import ArrayReplay, _load_csv, is_raw, load_recording


@dataclass(frozen=True, slots=True)
class LabelledChunk:
    t_us: np.ndarray  # int64 [n]
    data: np.ndarray  # float32 [n, C]
    target: np.ndarray  # float32 [n, L + 1]: labels..., phase
    origin_ns: int = 0


def _natural_key(p: str):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p)]


def expand(patterns, what: str) -> list[Path]:
    """Paths from a list of paths/globs (``$VAR``/``~`` expanded), each pattern's matches in natural order."""
    if patterns is None:
        return []
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    if not isinstance(patterns, (list, tuple)):
        raise ValueError(f"{what} must be a path, a glob or a list of them, got {patterns!r}")
    out: list[Path] = []
    for pat in patterns:
        s = os.path.expanduser(os.path.expandvars(str(pat)))
        unset = re.findall(r"\$\{?(\w+)", s)
        if unset:
            raise ValueError(f"{what}: {pat!r} uses environment variable(s) {unset} that are not set")
        hits = sorted(glob.glob(s), key=_natural_key) if glob.has_magic(s) else ([s] if os.path.exists(s) else [])
        hits = [h for h in hits if os.path.isfile(h)]
        if not hits:
            raise ValueError(f"{what}: no file matches {pat!r}" + (f" (expanded: {s!r})" if s != str(pat) else ""))
        out += [Path(h) for h in hits]
    return out


def _key(v) -> str:
    """A label as a map key: integral numbers without a fraction ("3", not "3.0")."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return str(v)


class LabelMap:
    """``None`` (labels must be numbers), ``"mod N"``, or a table ``{label: number}``."""

    def __init__(self, spec):
        self.mod = None
        self.table = None
        if spec is None:
            return
        if isinstance(spec, str):
            m = re.fullmatch(r"\s*mod\s+(\d+)\s*", spec)
            if not m or int(m.group(1)) < 1:
                raise ValueError(f"label_map {spec!r}: give \"mod N\" (N >= 1) or a table {{label = number}}")
            self.mod = int(m.group(1))
        elif isinstance(spec, dict):
            try:
                self.table = {_key(k): float(v) for k, v in spec.items()}
            except (TypeError, ValueError):
                raise ValueError(f"label_map: every value must be a number, got {spec!r}") from None
        else:
            raise ValueError(f"label_map must be \"mod N\" or a table, got {spec!r}")

    def __call__(self, label, where: str) -> float:
        k = _key(label)
        if self.table is not None:
            if k not in self.table:
                raise ValueError(f"{where}: label {k!r} is not in label_map (known: {sorted(self.table)})")
            return self.table[k]
        try:
            v = float(k)
        except ValueError:
            raise ValueError(f"{where}: label {k!r} is not a number; give a label_map table") from None
        if self.mod is not None:
            if not v.is_integer():
                raise ValueError(f"{where}: label {k!r} is not an integer, so 'mod {self.mod}' cannot map it")
            v = float(int(v) % self.mod)
        return v

    def column(self, values: np.ndarray, where: str) -> np.ndarray:
        """Map a label column; NaN stays NaN (that row is dropped later, counted)."""
        out = np.full(values.shape, np.nan, np.float32)
        ok = np.isfinite(values)
        u, inv = np.unique(values[ok], return_inverse=True)
        out[ok] = np.asarray([self(x, where) for x in u], np.float32)[inv] if u.size else np.float32(0)
        return out


@SOURCES.register("labelled")
class LabelledReplay(ArrayReplay):
    """Replay interface as `FileSource` (``read``, ``skip``, ``position``, ``time_us``, ``rows_until``,
    ``total``), with a `LabelledChunk` per read; ``files``/``starts``/``phases`` describe what plays when."""

    what = "labelled replay"

    def __init__(self, calibrate=None, evaluate=None, *, rate_hz: float | None = None, channels: int | None = None,
                 dtype=None, scale: float = 1.0, offset: float = 0.0, time_column=None, time_unit: str = "us",
                 columns=None, label: str | None = None, labels=None, label_column=None, side_file: str | None = None,
                 label_map=None, gap_s: float = 0.0, bad_files: str = "error", log: logging.Logger | None = None):
        self.log = log or logging.getLogger("spikestream.sources.labelled")
        cal, ev = expand(calibrate, "calibrate"), expand(evaluate, "evaluate")
        if not cal and not ev:
            raise ValueError("labelled replay: give 'calibrate' and/or 'evaluate' (paths or globs)")
        both = sorted({p.resolve() for p in cal} & {p.resolve() for p in ev})
        if both:
            raise ValueError(f"labelled replay: {len(both)} file(s) in both the calibration and the evaluation set, "
                             f"e.g. {both[0]}")
        given = [k for k, v in (("label", label), ("labels", labels), ("label_column", label_column),
                                ("side_file", side_file)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"labelled replay: give one of label, labels, label_column, side_file (got {given})")
        if bad_files not in ("error", "skip"):
            raise ValueError(f"bad_files must be 'error' or 'skip', got {bad_files!r}")
        if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        if rate_hz is not None and not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        if not gap_s >= 0:
            raise ValueError(f"gap_s must be >= 0, got {gap_s}")
        files = [(p, 1.0) for p in cal] + [(p, 0.0) for p in ev]
        if labels is not None:
            if not isinstance(labels, (list, tuple)) or len(labels) != len(files):
                raise ValueError(f"labels: one per file ({len(files)} files: calibrate then evaluate), got {labels!r}")
        self._regex = None
        if label is not None:
            try:
                self._regex = re.compile(str(label))
            except re.error as e:
                raise ValueError(f"label {label!r} is not a regular expression: {e}") from None
        lcols = None if label_column is None else (list(label_column) if isinstance(label_column, (list, tuple))
                                                   else [label_column])
        self._map = LabelMap(label_map)
        self._opts = dict(time_column=time_column, time_unit=time_unit, columns=columns, dtype=dtype, scale=scale,
                          offset=offset)
        self.stats: dict[str, int] = {"files": 0, "skipped_files": 0, "partial_frames": 0, "unlabelled_rows": 0,
                                      "unused_target_rows": 0}
        self.width = channels
        self.rate_hz = None if rate_hz is None else float(rate_hz)
        self.channels: list[str] | None = None
        self.target_names: list[str] | None = None
        ts, xs, ys = [], [], []
        self.files: list[Path] = []
        self.phases: list[float] = []
        starts = []
        next_t = 0
        for i, (path, phase) in enumerate(files):
            try:
                t, x, y = self._load(path, i, labels, lcols, side_file)
            except ValueError as e:
                if bad_files == "error":
                    raise
                self.stats["skipped_files"] += 1
                self.log.error("labelled replay: %s left out: %s", path, e)
                continue
            period = 1e6 / self.rate_hz
            t = t - t[0] + next_t
            check = TimeChecker(self.rate_hz, self.stats, self.log, f"file {path.name}")
            check.last_t = next_t - 1 if next_t else NO_TIME
            both_cols = np.concatenate([x, y], axis=1)
            t, both_cols = check.admit(t, both_cols)
            if t.size == 0:
                msg = f"{path}: no usable rows (all NaN/inf or out of order)"
                if bad_files == "error":
                    raise ValueError(msg)
                self.stats["skipped_files"] += 1
                self.log.error("labelled replay: %s left out", msg)
                continue
            x, y = both_cols[:, :x.shape[1]], both_cols[:, x.shape[1]:]
            starts.append(sum(a.size for a in ts))
            ts.append(t)
            xs.append(np.ascontiguousarray(x))
            ys.append(np.concatenate([y, np.full((t.size, 1), phase, np.float32)], axis=1))
            self.files.append(path)
            self.phases.append(phase)
            self.stats["files"] += 1
            next_t = int(t[-1]) + max(1, int(round(period))) + int(round(gap_s * 1e6))
        if not ts:
            raise ValueError("labelled replay: no usable recordings (every file was left out)")
        self.t_us = np.concatenate(ts)
        self.data = np.concatenate(xs)
        self.target = np.concatenate(ys)
        self.starts = np.asarray(starts, np.int64)
        self.n_channels = self.data.shape[1]
        self.total = int(self.t_us.size)
        self.calibration_rows = int(np.count_nonzero(self.target[:, -1] == 1.0))
        self._k = 0

    # ---------------------------------------------------------------- loading
    def _load(self, path: Path, i: int, labels, lcols, side_file):
        o = self._opts
        raw = is_raw(path, o["dtype"])
        rec = load_recording(path, self.rate_hz, o["time_column"], o["time_unit"], o["columns"], o["dtype"],
                             self.width if raw else None, o["scale"], o["offset"], self.log)
        self.stats["partial_frames"] += rec.partial_frames
        data = np.asarray(rec.data, np.float32)
        names = rec.names or [f"ch{k}" for k in range(data.shape[1])]
        if self.width is None:
            self.width = data.shape[1]
        elif data.shape[1] != self.width:
            raise ValueError(f"file {path}: {data.shape[1]} channels where {self.width} are expected")
        rate = rec.rate_hz
        if rate is None:  # times from the file: its nominal rate from the median step
            steps = np.diff(rec.t_us)
            rate = 1e6 / float(np.median(steps)) if steps.size and np.median(steps) > 0 else None
        if self.rate_hz is None:
            if rate is None:
                raise ValueError(f"file {path}: cannot tell its sample rate; give rate_hz")
            self.rate_hz = float(rate)
        elif rate is not None and abs(rate - self.rate_hz) > 0.01 * self.rate_hz:
            raise ValueError(f"file {path}: sampled at {rate:g} Hz, the replay at {self.rate_hz:g} Hz")
        n = data.shape[0]
        t = rec.t_us if rec.t_us is not None else np.round(np.arange(n) * (1e6 / self.rate_hz)).astype(np.int64)
        where = f"file {path}"
        if self._regex is not None:
            m = self._regex.search(path.name)
            if m is None:
                raise ValueError(f"{where}: its name does not match label {self._regex.pattern!r}")
            y = np.full((n, 1), self._map(m.group(1) if m.groups() else m.group(0), where), np.float32)
            tnames = ["label"]
        elif labels is not None:
            y = np.full((n, 1), self._map(labels[i], where), np.float32)
            tnames = ["label"]
        elif lcols is not None:
            idx = []
            for c in lcols:
                if isinstance(c, str):
                    if c not in names:
                        raise ValueError(f"{where}: no label column {c!r}; columns are {names}")
                    idx.append(names.index(c))
                elif isinstance(c, int) and not isinstance(c, bool) and 0 <= c < data.shape[1]:
                    idx.append(c)
                else:
                    raise ValueError(f"{where}: label column {c!r} is not a name or an index in 0..{data.shape[1] - 1}")
            y = np.stack([self._map.column(data[:, k], where) for k in idx], axis=1)
            keep = [k for k in range(data.shape[1]) if k not in idx]
            if not keep:
                raise ValueError(f"{where}: no data columns left besides the label column(s)")
            tnames = [names[k] for k in idx]
            data, names = data[:, keep], [names[k] for k in keep]
        elif side_file is not None:
            y, tnames = self._side(path, str(side_file), n)
            n = y.shape[0]
            data, t = data[:n], t[:n]
        else:
            y, tnames = np.zeros((n, 0), np.float32), []
        tnames = tnames + ["phase"]
        if self.channels is None:
            self.channels, self.target_names = names, tnames
        elif len(tnames) != len(self.target_names):
            raise ValueError(f"{where}: {len(tnames) - 1} target column(s) where {len(self.target_names) - 1} are expected")
        elif data.shape[1] != len(self.channels):
            raise ValueError(f"file {path}: {data.shape[1]} data channels where {len(self.channels)} are expected")
        return t, data, y

    def _side(self, path: Path, pattern: str, n: int):
        try:
            side = Path(pattern.format(dir=path.parent, stem=path.stem, name=path.name))
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"side_file {pattern!r}: use {{dir}}, {{stem}}, {{name}} ({e})") from None
        if not side.is_absolute() and not side.exists():
            side = path.parent / side
        if not side.is_file():
            raise ValueError(f"file {path}: its side file {side} does not exist")
        _, y, tnames = _load_csv(side, None, "us", None)
        m = y.shape[0]
        if m == 0:
            raise ValueError(f"file {path}: its side file {side} holds no rows")
        if m < n:
            self.stats["unlabelled_rows"] += n - m
            self.log.warning("side file %s has %d row(s) for the %d of %s: the last %d row(s) are left out",
                             side, m, n, path, n - m)
        elif m > n:
            self.stats["unused_target_rows"] += m - n
            self.log.warning("side file %s has %d row(s) for the %d of %s: the last %d target row(s) are unused",
                             side, m, n, path, m - n)
            y = y[:n]
        return np.asarray(y, np.float32), list(tnames)

    # ---------------------------------------------------------------- replay interface
    def file_index(self, k: int) -> int:
        """The index in `files` of the file row `k` belongs to."""
        return int(np.searchsorted(self.starts, k, side="right")) - 1

    def _chunk(self, k: int, n: int) -> LabelledChunk:
        return LabelledChunk(self.t_us[k:k + n], self.data[k:k + n], self.target[k:k + n], 0)
