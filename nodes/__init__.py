"""Node programs, one thin module per node kind (installed as ``spikestream.nodes``).

Node kinds register with `spikestream.registry.NODES` lazily: a process imports only the module that
defines the kind it runs (found by reading the modules' ``@register_node("...")`` lines), so an SNN node
does not load the event-camera decoders, scipy or the MQTT client. `load_all` imports every module.
"""

import importlib
import pkgutil
import re
from functools import cache
from pathlib import Path

_KIND = re.compile(r'@register_node\(\s*["\']([^"\']+)["\']')


def _modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]


@cache
def _index() -> dict[str, str]:
    """node kind -> module name, from the source text (nothing imported)."""
    out: dict[str, str] = {}
    for mod in _modules():
        for kind in _KIND.findall((Path(__path__[0]) / f"{mod}.py").read_text()):
            out[kind] = mod
    return out


def load(kind: str) -> None:
    """Import the module that defines `kind`, if any module here does."""
    mod = _index().get(kind)
    if mod is not None:
        importlib.import_module(f"{__name__}.{mod}")


def load_all() -> None:
    for mod in _modules():
        importlib.import_module(f"{__name__}.{mod}")
