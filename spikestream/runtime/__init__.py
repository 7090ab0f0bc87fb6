"""The runtime: node base class and loop, pipeline files, supervisor, stats."""

from spikestream.runtime.node import Node, register_node

__all__ = ["Node", "register_node"]
