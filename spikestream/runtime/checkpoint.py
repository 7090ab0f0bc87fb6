"""Checkpoints: a node's state (named arrays) in an .npz file, written durably, kept in generations,
read defensively.

- `write` puts the arrays in ``PATH.tmp``, fsyncs it, shifts the older generations (``PATH`` ->
  ``PATH.1`` -> ... -> ``PATH.{keep-1}``), renames the new file to ``PATH`` and fsyncs the folder: a
  crash (kill -9, power) at any point leaves every generation either complete or absent, never half
  written. (A crash between the shift and the last rename leaves no ``PATH``; `generations` then
  yields ``PATH.1`` first, which is the newest.)
- `read` opens the zip itself before numpy does: every member must be a plain ``.npy`` array, stored or
  deflated, and the uncompressed sizes the archive declares must add up to at most `max_bytes`
  (a few-KB zip declaring 1 GiB is refused without inflating anything). Each array's own header is
  checked against its member's declared size, no object arrays (``allow_pickle=False``); a member that
  inflates to more than it declared fails its CRC and length check (zipfile stops at the declared size).
  Anything wrong is a `StateFileError` naming the file; nothing is applied. Whether the arrays fit the
  node (shape, dtype, range, finite) is the node's `set_state` to check, all before writing any.
"""

from __future__ import annotations

import io
import math
import os
import zipfile

import numpy as np

MAX_STATE_BYTES = 256 << 20  # default bound on a checkpoint's declared uncompressed size
MAX_MEMBERS = 4096
FALLBACKS = ("fresh", "fail")


class StateFileError(ValueError):
    """A checkpoint that cannot be used: unreadable, truncated, not an .npz of plain arrays, too large."""


def generations(path: str, keep: int) -> list[str]:
    """The checkpoint files of `path`, newest first: ``path``, ``path.1``, ... ``path.{keep-1}``."""
    return [path] + [f"{path}.{i}" for i in range(1, keep)]


def _fsync_dir(d: str) -> None:
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # a platform or file system without directory handles: nothing more we can do
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: str, state: dict[str, np.ndarray], keep: int = 3) -> None:
    """Write `state` durably as the newest generation of `path`, keeping at most `keep` generations."""
    d = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:  # not through a symlink someone left at the temporary name
            np.savez(f, **state)
            f.flush()
            os.fsync(f.fileno())
        gens = generations(path, keep)
        for i in range(len(gens) - 1, 0, -1):
            if os.path.exists(gens[i - 1]):
                os.replace(gens[i - 1], gens[i])
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(d)


def _header(data: bytes, what: str) -> tuple[tuple[int, ...], np.dtype]:
    f = io.BytesIO(data)
    try:
        major, _ = np.lib.format.read_magic(f)
        if major == 1:
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif major in (2, 3):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {major}")
    except ValueError as e:
        raise StateFileError(f"{what}: not a .npy array ({e})") from None
    if dtype.hasobject:
        raise StateFileError(f"{what}: holds Python objects, not plain numbers")
    need = math.prod(shape) * dtype.itemsize
    if need > len(data) - f.tell():
        raise StateFileError(f"{what}: header declares {need} bytes of data, the member holds {len(data) - f.tell()}")
    return shape, dtype


def read(path: str, max_bytes: int = MAX_STATE_BYTES) -> dict[str, np.ndarray]:
    """The arrays of checkpoint `path`, checked as the module docstring says; `StateFileError` if unusable."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise StateFileError(f"{path}: not a readable .npz ({type(e).__name__}: {e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise StateFileError(f"{path}: {len(infos)} members (at most {MAX_MEMBERS})")
        total = 0
        for zi in infos:
            if zi.is_dir() or not zi.filename.endswith(".npy"):
                raise StateFileError(f"{path}: member {zi.filename!r} is not an .npy array")
            if zi.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise StateFileError(f"{path}: member {zi.filename!r} uses compression method {zi.compress_type}")
            total += zi.file_size
        if total > max_bytes:
            raise StateFileError(f"{path}: declares {total} bytes uncompressed, more than the limit of {max_bytes} "
                                 "(state_max_bytes)")
        state = {}
        for zi in infos:
            what = f"{path}: {zi.filename}"
            try:
                with zf.open(zi) as f:
                    data = f.read(zi.file_size + 1)  # zipfile stops at the declared size and checks the CRC
            except (OSError, zipfile.BadZipFile, ValueError, EOFError, RuntimeError, NotImplementedError) as e:
                raise StateFileError(f"{what}: cannot be read ({type(e).__name__}: {e})") from None
            if len(data) != zi.file_size:
                raise StateFileError(f"{what}: {len(data)} bytes where {zi.file_size} were declared")
            _header(data, what)
            try:
                state[zi.filename[:-4]] = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise StateFileError(f"{what}: {type(e).__name__}: {e}") from None
    return state


def check_settings(keep: object, fallback: object, max_bytes: object) -> None:
    """A ValueError naming the key when a node's state settings cannot work."""
    if type(keep) is not int or not 1 <= keep <= 100:
        raise ValueError(f"state_keep must be an integer from 1 to 100, got {keep!r}")
    if fallback not in FALLBACKS:
        raise ValueError(f"state_fallback must be one of {list(FALLBACKS)}, got {fallback!r}")
    if type(max_bytes) is not int or max_bytes < 1024:
        raise ValueError(f"state_max_bytes must be an integer >= 1024, got {max_bytes!r}")
