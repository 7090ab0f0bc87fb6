"""spikestream.sources — importing this package registers all of its kinds."""

import importlib
import pkgutil

from spikestream._jitcache import invalidate_if_stale

invalidate_if_stale(__path__[0])  # before any kernel is loaded from Numba's cache

for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
