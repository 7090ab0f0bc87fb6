"""Registries: how a pipeline file (or a plugin) names encoders, neuron models, decoders, sinks, nodes.

Each family keeps one `Registry`. Implementations register themselves where they are defined::

    from spikestream.registry import ENCODERS

    @ENCODERS.register("delta")
    class DeltaEncoder: ...

and are built by name: ``ENCODERS.create("delta", **params)``. A family's package imports all of its
modules in its ``__init__`` so that importing the package fills the registry. Plugins register through
the ``spikestream.plugins`` entry-point group (a module to import).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class UnknownKind(KeyError, ValueError):
    """A pipeline file or call named a kind nobody registered (a bad parameter: also a ValueError)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry:
    """A name -> factory map for one family of components."""

    def __init__(self, family: str, package: str | None = None, lazy: bool = False):
        self.family = family
        self._package = package  # imported on first lookup, so that its modules register
        #: With `lazy`, the package imports only the module defining a kind (``package.load(name)``), so a
        #: process imports what it runs and no more; ``package.load_all()`` when every kind is wanted.
        self._lazy = lazy
        self._items: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.family} {name!r} is registered twice")
            self._items[name] = obj  # type: ignore[assignment]
            return obj

        return deco

    def _load(self, name: str | None = None) -> None:
        if self._package is None:
            return
        if self._lazy:
            pkg = import_module(self._package)
            if name is None:
                pkg.load_all()
                _load_plugins()
            elif name not in self._items:
                pkg.load(name)
                if name not in self._items:
                    _load_plugins()
            return
        pkg, self._package = self._package, None
        import_module(pkg)
        _load_plugins()

    def get(self, name: str) -> Callable[..., Any]:
        self._load(name)
        try:
            return self._items[name]
        except KeyError:
            self._load()
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownKind(f"unknown {self.family} {name!r}; known: {known}") from None

    def create(self, name: str, /, **params: Any) -> Any:
        return self.get(name)(**params)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._load(name)
        return name in self._items


_plugins_loaded = False


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group="spikestream.plugins"):
        ep.load()


NODES = Registry("node kind", "spikestream.nodes", lazy=True)
SOURCES = Registry("source", "spikestream.sources")
CONDITIONERS = Registry("conditioning stage", "spikestream.condition")
ENCODERS = Registry("encoder", "spikestream.encode")
NEURON_MODELS = Registry("neuron model", "spikestream.snn")
LEARNING_RULES = Registry("learning rule", "spikestream.snn")
DECODERS = Registry("decoder", "spikestream.decode")
SINKS = Registry("sink", "spikestream.sinks")
EVENT_FORMATS = Registry("event format", "spikestream.events")
EVENT_FILTERS = Registry("event filter", "spikestream.events")
