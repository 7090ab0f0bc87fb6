"""Node programs, one thin module per node kind (installed as ``spikestream.nodes``).

Importing this package registers every node kind with `spikestream.registry.NODES`.
"""

import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
