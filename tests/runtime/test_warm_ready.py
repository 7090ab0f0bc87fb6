"""The node loop's start-up order (issue 13, item 5): `Node.warm` runs after setup and before the node reports
ready; nothing a node emits before warm() has returned is sent; a kernel compiled after that is counted as
``late_compiles`` with one WARNING (a fresh process, so the kernels really compile)."""

import json
import subprocess
import sys
import textwrap

from runtime_helpers import ep, node_table, write_pipeline

SCRIPT = """
    import logging, sys
    import numpy as np
    from numba import njit
    from spikestream.protocol import Control
    from spikestream.runtime import pipeline
    from spikestream.runtime.loop import NodeRunner
    from spikestream.runtime.node import Node, register_node

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")

    @njit
    def warmed(x):
        return x + 1.0

    @register_node("warm_probe")
    class Probe(Node):
        outputs = {"out": "control"}

        def setup(self):
            self.polls = 0

        def warm(self):
            warmed(1.0)  # compiles here: before ready
            self.emit("out", Control(np.zeros(1), [], False), 0, 0)  # a command computed before ready: not sent
            print("WARM-RETURNS", file=sys.stderr, flush=True)

        def poll(self, now_ns):
            self.polls += 1
            warmed(2.0)  # loaded by warm(): no compile
            if self.polls == 3:  # two kernels warm() did not reach: they compile after ready
                @njit
                def late(x):
                    return x * 2.0
                @njit
                def later(x):
                    return x * 3.0
                late(1.0), later(1.0)
            self.emit("out", Control(np.full(1, float(self.polls)), [], False), self.polls, 0)

        @property
        def finished(self):
            return self.polls >= 5

    spec = pipeline.load(sys.argv[1], resolve_auto=False).nodes["probe"]
    sys.exit(NodeRunner(spec).run(report=sys.argv[2]))
"""


def test_warm_runs_before_ready_what_it_emits_is_not_sent_and_a_later_compile_is_counted(tmp_path):
    path = write_pipeline(tmp_path, node_table("probe", "warm_probe", outputs={"out": ep()}, extra="start_wait_s = 0"))
    report = tmp_path / "report.json"
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}  # an empty cache: warmed compiles
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(path), str(report)], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()

    def at(text):
        return next(i for i, ln in enumerate(lines) if text in ln)

    assert at("compiling kernel warmed") < at("WARM-RETURNS") < at("kernels ready in") < at("first message out")
    assert "INFO kernels ready in" in lines[at("kernels ready in")] and "(1 compiled" in lines[at("kernels ready in")]
    late = [ln for ln in lines if "after the node reported ready" in ln]
    assert len(late) == 1 and late[0].startswith("WARNING compiling kernel") and "late" in late[0], r.stderr
    snap = json.loads(report.read_text())
    assert snap["late_compiles"] == 2
    assert snap["sent_before_ready"] == 1
    assert snap["msgs_out"] == {"out": 5}  # the five polls' commands; the one from warm() never went out
