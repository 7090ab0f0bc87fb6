"""The runtime: node base class and loop, pipeline files, supervisor, stats.

`Node` and `register_node` are loaded on first use (PEP 562), so that a light submodule (`runtime.forkserver`,
started first by `spikestream run`) is imported without numpy."""

__all__ = ["Node", "register_node"]


def __getattr__(name: str):
    if name in __all__:
        from spikestream.runtime import node

        return getattr(node, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
