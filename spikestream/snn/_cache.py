"""Guard against stale Numba caches.

``@njit(cache=True)`` checks only the source file of the cached function itself: editing a model or the
plasticity module would leave `kernel.run`'s cached machine code (which includes them) in use. At import
we fingerprint this package's sources and, when they changed, delete the package's cache files in the
``__pycache__`` beside it (where Numba keeps them for a writable source tree). Best effort: an unwritable
tree or a NUMBA_CACHE_DIR elsewhere is left alone (clear that one by hand after upgrading).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def invalidate_if_stale() -> bool:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(here.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    digest = h.hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "numba-sources.sha256"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        tmp = stamp.with_suffix(".tmp")
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        return False
    return True
