"""spikestream.snn — the spiking network engine. Importing this package registers all of its kinds.

Public API: `build_snn(params, n_inputs) -> SNN` (see docs/snn.md).
"""

import importlib
import pkgutil

from spikestream._jitcache import invalidate_if_stale

invalidate_if_stale(__path__[0])  # before any kernel is loaded from Numba's cache

for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

from spikestream.snn.network import SNN, build_snn  # noqa: E402

__all__ = ["SNN", "build_snn"]
