"""One guard against stale Numba caches, for every package with ``@njit(cache=True)`` kernels.

Numba checks a cached function against its *own* source file only: a kernel that calls a jitted helper (or
reads a constant) from another module keeps its old machine code when that module changes. Editing
``encode/_fastmath.py`` left the cochlea and population kernels running the old `exp`; editing
``condition/iir.py`` left ``sources/synthetic.py``'s filters stale.

So each jitted package calls, first thing in its ``__init__``::

    from spikestream._jitcache import invalidate_if_stale

    invalidate_if_stale(__path__[0])  # before any kernel is loaded from Numba's cache

which fingerprints the package's own ``*.py`` files plus every ``spikestream`` module they import,
transitively (found by reading the import lines, so helpers in other packages count), and when the
fingerprint changed deletes the package's ``__pycache__/*.nbi|*.nbc`` (where Numba keeps the cache for a
writable source tree). Best effort: an unwritable tree or a ``NUMBA_CACHE_DIR`` elsewhere is left alone
(clear that one by hand after upgrading). Cost at import: one walk of the tree and reading and hashing
10-35 files, 5-10 ms per package measured on the loaded 2-core machine.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

#: The top package (``spikestream/``) whose dotted module names the import lines are resolved against.
ROOT = Path(__file__).resolve().parent
STAMP = "numba-sources.sha256"


def _import_re(top: str) -> re.Pattern[bytes]:
    t = re.escape(top).encode()
    return re.compile(rb"^[ \t]*(?:from[ \t]+(" + t + rb"(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)"
                      rb"|import[ \t]+(" + t + rb"(?:\.\w+)*))", re.M)


def _modules(root: Path) -> dict[str, str]:
    """Dotted name -> file of every module under `root` (one directory walk; no stat per import)."""
    out: dict[str, str] = {}
    base = str(root.parent)
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x != "__pycache__" and not x.startswith(".")]
        pkg = os.path.relpath(d, base).replace(os.sep, ".")
        for f in files:
            if f.endswith(".py"):
                out[pkg if f == "__init__.py" else f"{pkg}.{f[:-3]}"] = os.path.join(d, f)
    return out


def _imports(src: bytes, mods: dict[str, str], pat: re.Pattern[bytes]) -> set[str]:
    """The files of the top-package modules `src` imports (``from a.b import c`` counts ``a/b`` and, when
    it is a module, ``a/b/c.py``)."""
    out: set[str] = set()
    for m in pat.finditer(src):
        if m.group(3):
            names, base = [], m.group(3).decode()
        else:
            base = m.group(1).decode()
            names = re.findall(r"\w+", m.group(2).decode().split("#")[0])
        for dotted in [base] + [f"{base}.{n}" for n in names]:
            f = mods.get(dotted)
            if f is not None:
                out.add(f)
    return out


def sources(package_dir: str | Path, root: Path = ROOT) -> list[Path]:
    """The files a package's kernels can depend on: its own ``*.py`` and, transitively, every module of
    `root` they import. Sorted."""
    pkg = Path(package_dir).resolve()
    mods = _modules(Path(root).resolve())
    pat = _import_re(Path(root).name)
    seen = {str(f) for f in pkg.glob("*.py")}
    todo = list(seen)
    while todo:
        with open(todo.pop(), "rb") as fh:
            deps = _imports(fh.read(), mods, pat)
        for dep in deps:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(Path(f) for f in seen)


def fingerprint(package_dir: str | Path, root: Path = ROOT) -> str:
    h = hashlib.sha256()
    for f in sources(package_dir, root):
        h.update(str(f.relative_to(Path(root).resolve().parent)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def invalidate_if_stale(package_dir: str | Path, root: Path = ROOT) -> bool:
    """Clear the package's Numba cache files if its sources (or a module they import) changed since the
    last call. Returns True when it cleared them."""
    pkg = Path(package_dir).resolve()
    try:
        digest = fingerprint(pkg, root)
    except OSError:
        return False
    cache = pkg / "__pycache__"
    stamp = cache / STAMP
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        tmp = stamp.with_name(f"{STAMP}.{os.getpid()}.tmp")
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        return False
    return True
