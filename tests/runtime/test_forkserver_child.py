"""A node forked from the fork server starts as a fresh interpreter would, although the server runs with the
cyclic collector off (its imports go faster without the collector's passes) and with handlers of its own."""

import json
import subprocess
import sys

SCRIPT = r"""
import gc, json, os, signal
from spikestream.runtime import forkserver
gc.disable()  # as `serve` runs
signal.signal(signal.SIGCHLD, lambda *_: None)
signal.signal(signal.SIGTERM, lambda *_: None)
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
out_r, out_w = os.pipe()
pid = os.fork()
if pid == 0:
    forkserver._as_a_fresh_interpreter()
    state = {"gc": gc.isenabled(), "wakeup": signal.set_wakeup_fd(-1),
             "chld": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
             "term": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
             "pipe": signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN}
    os.write(out_w, json.dumps(state).encode())
    os._exit(0)
os.close(out_w)
os.waitpid(pid, 0)
print(os.read(out_r, 4096).decode())
print(json.dumps({"server_gc": gc.isenabled()}))
"""


def test_a_forked_child_has_the_collector_on_and_default_signal_handling():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    child, server = (json.loads(line) for line in r.stdout.strip().splitlines())
    assert child == {"gc": True, "wakeup": -1, "chld": True, "term": True, "pipe": True}
    assert server == {"server_gc": False}
