"""The loop keeps the garbage collector's full collections off what a node builds lazily: what its first
work creates is frozen out of the collector's scans, as what `setup` built was."""

import gc

import numpy as np
from runtime_helpers import ep

from spikestream.protocol import Samples
from spikestream.registry import NODES
from spikestream.runtime import Node
from spikestream.runtime.loop import NodeRunner
from spikestream.runtime.pipeline import NodeSpec


class _Holder:
    pass


class LazySource(Node):
    """Builds a large object graph on its first poll (as an SNN does on its first packet), then emits."""

    outputs = {"out": "samples"}

    def setup(self) -> None:
        self.built = None

    def poll(self, now_ns: int) -> None:
        if self.built is None:
            self.built = [_Holder() for _ in range(20_000)]
        self.emit("out", Samples(np.array([now_ns // 1000]), np.zeros((1, 1), np.float32)), now_ns // 1000, now_ns)


def test_what_the_first_work_builds_is_frozen_out_of_the_collector():
    NODES.register("test_lazy_source")(LazySource)
    spec = NodeSpec(name="lazy", kind="test_lazy_source", outputs={"out": ep()}, start_wait_s=0.0, linger_ms=0)
    runner = NodeRunner(spec)
    try:
        assert runner.run(duration_s=0.3) == 0
        built = runner.node.built
        assert built is not None and runner.stats.msgs_out["out"] > 0
        young = {id(o) for o in gc.get_objects()}  # the generations the collector scans (not the frozen)
        assert not any(id(h) in young for h in built[::1000])
        assert gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()
