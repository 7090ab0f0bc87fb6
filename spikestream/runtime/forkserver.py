"""Node processes forked from one warm parent: what each node used to pay at its start, once per pipeline.

A node process spends most of a warm start importing (numpy, Numba, the node's stages, and, when Numba's CPU
target first loads a cached kernel, its implementation registries and scipy.linalg for BLAS) and not running
anything: measured ~1.1 CPU-s per node of the demo, ~0.15 CPU-s of real set-up and kernel loading. The fork
server is started by the supervisor as a fresh process (``python -m spikestream.runtime.forkserver``), does
those imports once, readies Numba's CPU target, imports the modules of the pipeline's node kinds, and then forks
one child per node. A child is what ``python -m spikestream node ...`` would be: its own session, its own
stdout/stderr (the node's log file, or the supervisor's), SIGTERM when its parent dies (and the fork server
gets SIGTERM when the supervisor dies), a fresh global numpy seed, then `spikestream.cli.main(argv)`.

Only this process forks, and it holds no ZeroMQ context, no thread of its own and no node state: a child
starts from imported modules and nothing else (OpenBLAS's own threads are re-made by its fork handlers).

It also reads and checks the pipeline file for the supervisor (`load_pipeline`): the check builds what each
node kind declares (its module, its encoder, decoder, network...), which imports Numba and scipy; done here, where
those imports are made anyway, the supervisor's process imports none of them (it did: ~0.9 CPU-s, on a 2-core
device beside this process's own ~1.3 CPU-s of imports) and takes the resolved pipeline back as JSON.

Protocol: JSON lines. Requests on its stdin: ``{"load": path, "level": N}``, ``{"preload": [kind, ...]}``,
``{"spawn": argv, "log": path|null}``. Replies on its stdout: ``{"ready": seconds, "cpu": seconds}`` once (after
the generic imports), ``{"loaded": resolved-json|null, "error": text|null, "exception": name|null, "logs":
[[logger, level, text], ...], "s": seconds, "cpu": seconds}`` for each load, ``{"preloaded": ...}``, ``{"pid": N}`` for each spawn, in order, and
``{"exited": pid, "code": c}`` (a signal as -SIGNUM, as subprocess reports it) whenever a child ends. Its stdin
closing (the supervisor is done) ends it.

The supervisor side: `ForkServer`, whose `spawn` returns a `Forked` handle with the `subprocess.Popen` calls the
supervisor uses (pid, poll, wait, send_signal, kill, returncode). ``SPIKESTREAM_FORKSERVER=0`` turns it off (one
``python -m spikestream node`` per node, as before); so does a fork server that failed.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from typing import Any, Callable

ENV_SWITCH = "SPIKESTREAM_FORKSERVER"
READY_TIMEOUT_S = 120.0  # its imports on a slow board, loaded; beyond it the supervisor spawns nodes as before
SPAWN_TIMEOUT_S = 30.0  # a fork is milliseconds; a preload ahead of it may take seconds


class ForkServerError(RuntimeError):
    """The fork server is gone or did not answer: the supervisor spawns nodes the plain way."""


def enabled(environ: dict[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get(ENV_SWITCH, "1") not in ("0", "no", "off", "false")


def _arm_parent_death(parent: int) -> None:
    """SIGTERM this process when its parent dies (PR_SET_PDEATHSIG); exit now if it already has."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def die_with_parent(parent: int) -> Callable[[], None]:
    """A `preexec_fn` (runs in the child between fork and exec): no child outlives a parent that was killed."""
    return lambda: _arm_parent_death(parent)


# ---------------------------------------------------------------------------------------------- the server
def _preload_generic() -> None:
    """What every node process imports, and Numba's CPU target with its registries (loaded at a process's first
    cached kernel: ~0.5 s, scipy.linalg's import included)."""
    import msgpack  # noqa: F401
    import numpy  # noqa: F401
    import zmq  # noqa: F401

    import spikestream.cli  # noqa: F401
    import spikestream.runtime.commands  # noqa: F401
    import spikestream.runtime.loop  # noqa: F401

    try:
        from numba.core.registry import cpu_target
    except ImportError:
        return
    cpu_target.target_context.refresh()
    cpu_target.typing_context.refresh()


def _preload_kinds(kinds: list[str]) -> None:
    from spikestream.registry import NODES

    for kind in kinds:
        try:
            NODES.get(kind)
        except Exception:  # the node that runs it says what is wrong, in its own log
            pass


def _load(path: str, level: int) -> dict[str, Any]:
    """`pipeline.load(path)` (auto ports picked) for the supervisor: the resolved pipeline, or the error's text
    and class name; the log records of `level` and above it made, for the supervisor to say."""
    records: list[list[Any]] = []

    class _Keep(logging.Handler):
        def emit(self, r: logging.LogRecord) -> None:
            text = r.getMessage()
            if r.exc_info:
                text += "\n" + logging.Formatter().formatException(r.exc_info)
            records.append([r.name, r.levelno, text])

    t0, c0 = time.monotonic(), time.process_time()
    root, keep = logging.getLogger(), _Keep()
    old_level = root.level
    root.addHandler(keep)  # (and the interpreter's last-resort handler, which would print them here, stays quiet)
    root.setLevel(level)
    try:
        from spikestream.runtime import pipeline

        out = {"loaded": pipeline.load(path).to_json()}
    except Exception as e:  # the supervisor raises a PipelineError again, anything else it reproduces itself
        out = {"loaded": None, "error": str(e), "exception": type(e).__name__}
    finally:
        root.removeHandler(keep)
        root.setLevel(old_level)
    return {**out, "logs": records, "s": round(time.monotonic() - t0, 3), "cpu": round(time.process_time() - c0, 3)}


def _freeze() -> None:
    """Move what the imports built out of the collector's sight: a child's first full collection (the loop's
    `_realtime`) then scans only its own objects, and the shared pages are not dirtied by it. (This process
    runs with the collector off, `serve`: what it imports lives for good; its children turn it back on.)"""
    gc.collect()
    gc.freeze()


def _as_a_fresh_interpreter() -> None:
    """Undo in a forked child what the server changed from how an interpreter starts: the cyclic collector back
    on (`serve` runs without it), the signal handlers and wakeup fd the server set, and the legacy global numpy
    RNG (it would otherwise be the same in every node)."""
    gc.enable()
    signal.set_wakeup_fd(-1)
    for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL if s != signal.SIGPIPE else signal.SIG_IGN)  # as the interpreter starts
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _child(argv: list[str], log_path: str | None, env: dict[str, str], stdout_fd: int, parent: int) -> None:
    """In the forked child: become what `python -m spikestream ARGV` would be, run it, exit. Never returns."""
    code = 1
    try:
        _as_a_fresh_interpreter()
        os.setsid()
        _arm_parent_death(parent)
        if "node" in argv[:-2]:  # `ps -o comm`, top, pgrep: "ss:NODE" (the command line stays the server's)
            name = argv[argv.index("node") + 2]
            try:
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(15, f"ss:{name}".encode()[:15])  # PR_SET_NAME
            except OSError:
                pass
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if log_path:
            out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.close(out)
        else:
            os.dup2(stdout_fd, 1)
        os.close(stdout_fd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["spikestream", *argv]
        from spikestream.cli import main

        code = main(argv) or 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            import logging

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(stdout_fd: int) -> None:
    t0, c0 = time.monotonic(), time.process_time()
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to the supervisor's stderr, never into the replies

    def reply(**msg: Any) -> None:
        data = memoryview((json.dumps(msg) + "\n").encode())
        while data:  # a resolved pipeline may pass a pipe's 64 KiB; a signal may cut a write short
            data = data[os.write(reply_fd, data):]

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
    # no cyclic collection while importing: the passes over the ~1M objects imports make (all kept for good)
    # cost ~0.1 of the imports' and the demo's check's ~1.25 CPU-s (medians of 8); `_freeze` collects once after
    # each batch of work
    gc.disable()
    _preload_generic()
    _freeze()
    reply(ready=round(time.monotonic() - t0, 3), cpu=round(time.process_time() - c0, 3))
    parent, buf, live = os.getpid(), b"", set()
    while True:
        ready, _, _ = select.select([0, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        while live:  # reap every child that ended
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            live.discard(pid)
            reply(exited=pid, code=os.waitstatus_to_exitcode(status))
        if 0 not in ready:
            continue
        chunk = os.read(0, 65536)
        if not chunk:  # the supervisor closed us: it has stopped its nodes (any left get SIGTERM as we exit)
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            if "load" in req:
                reply(**_load(req["load"], req.get("level", logging.WARNING)))
            elif "preload" in req:
                t1, c1 = time.monotonic(), time.process_time()
                _preload_kinds(req["preload"])
                _freeze()
                reply(preloaded=round(time.monotonic() - t1, 3), cpu=round(time.process_time() - c1, 3))
            elif "spawn" in req:
                pid = os.fork()
                if pid == 0:
                    os.close(reply_fd)
                    os.close(wake_r)
                    os.close(wake_w)
                    _child(req["spawn"], req.get("log"), req["env"], stdout_fd, parent)
                live.add(pid)
                reply(pid=pid)


# ---------------------------------------------------------------------------------------------- the client
class Forked:
    """A node forked by the fork server: the part of `subprocess.Popen` the supervisor uses."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]):
        self.server, self.pid, self.args = server, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid, 0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = self.server.exit_code(self.pid, 0.5 if left is None else min(left, 0.5))
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The supervisor's end: start the server (its imports run meanwhile), then `spawn` node processes."""

    def __init__(self, env: dict[str, str] | None = None):
        """`env`: the server's own environment (Numba's settings, NUMBA_CACHE_DIR, are read at its imports);
        each spawn gives its child's."""
        from spikestream.runtime import sdnotify

        env = sdnotify.child_env(dict(os.environ) if env is None else env)
        out = os.dup(1)  # the supervisor's stdout, for the children that have no log file
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "spikestream.runtime.forkserver", str(out)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(out,), env=env,
                                         preexec_fn=die_with_parent(os.getpid()), start_new_session=True)
        finally:
            os.close(out)
        self._buf = b""
        self._pids: list[int] = []
        self._exits: dict[int, int] = {}
        self.ready: dict[str, float] | None = None
        self.preloaded: dict[str, float] | None = None
        self._loaded: dict[str, Any] | None = None
        #: The last `load`'s wall and CPU seconds in the server (its imports done): {"s": ..., "cpu": ...}.
        self.checked: dict[str, float] | None = None

    def _send(self, **msg: Any) -> None:
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise ForkServerError(f"the fork server is gone ({e})") from None

    def _read(self, timeout: float) -> bool:
        """Take in the replies available within `timeout`; False once the server has ended."""
        fd = self.proc.stdout.fileno()
        if not select.select([fd], [], [], max(0.0, timeout))[0]:
            return True
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            msg = json.loads(line)
            if "ready" in msg:
                self.ready = msg
            elif "preloaded" in msg:
                self.preloaded = msg
            elif "loaded" in msg:
                self._loaded = msg
            elif "pid" in msg:
                self._pids.append(msg["pid"])
            elif "exited" in msg:
                self._exits[msg["exited"]] = msg["code"]
        return True

    def _until(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if not self._read(min(0.5, max(0.0, end - time.monotonic()))):
                raise ForkServerError(f"the fork server ended (exit {self.proc.wait()}) {what}")
            if time.monotonic() >= end and not cond():
                raise ForkServerError(f"the fork server did not answer within {timeout:g} s {what}")

    def load(self, path: str, level: int, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        """The server's `_load` of the pipeline file `path` (after its imports: they are what the check needs)."""
        self._loaded = None
        self._send(load=path, level=level)
        self._until(lambda: self._loaded is not None, timeout, "while checking the pipeline")
        self.checked = {k: self._loaded[k] for k in ("s", "cpu")}
        return self._loaded

    def preload(self, kinds: list[str]) -> None:
        self._send(preload=sorted(set(kinds)))

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict[str, float]:
        self._until(lambda: self.ready is not None, timeout, "while importing")
        return self.ready

    def wait_preloaded(self, timeout: float = READY_TIMEOUT_S) -> dict[str, float]:
        self._until(lambda: self.preloaded is not None, timeout, "while importing the node kinds")
        return self.preloaded

    def spawn(self, argv: list[str], log_path: str | None, env: dict[str, str]) -> Forked:
        self.wait_ready()
        self._send(spawn=argv, log=log_path, env=env)
        self._until(lambda: bool(self._pids), SPAWN_TIMEOUT_S, "at a spawn")
        return Forked(self, self._pids.pop(0), argv)

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """The child's exit code once it ended (None while it runs). A server that ended lost its children
        with it (they got SIGTERM): those count as killed by SIGTERM."""
        if pid not in self._exits and not self._read(timeout):
            if self.proc.poll() is not None:
                self._exits.setdefault(pid, -signal.SIGTERM)
        return self._exits.pop(pid, None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 5.0) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


_PRESTARTED: ForkServer | None = None


def prestart() -> None:
    """Start the fork server now, so that its imports start at once (it then checks the pipeline file for this
    process: `load_pipeline`); the next `take` hands it over. A no-op when switched off or when it cannot start."""
    global _PRESTARTED
    if _PRESTARTED is None and enabled():
        try:
            _PRESTARTED = ForkServer()
        except OSError:
            pass


def take() -> ForkServer:
    """The prestarted fork server (if it is still alive), else a new one."""
    global _PRESTARTED
    server, _PRESTARTED = _PRESTARTED, None
    if server is not None and server.alive():
        return server
    return ForkServer()


def load_pipeline(path: str | os.PathLike) -> Any:
    """`pipeline.load(path)` as `spikestream run` and `demo` need it, done by the prestarted fork server (see the
    module doc) when there is one: the same checks, the same resolved pipeline, the same PipelineError text, and
    its log lines said here; this process imports no node kind. Without a prestarted server (switched off, or it
    failed), and for an error other than a PipelineError (raised here as it would be, traceback and all), the
    file is loaded here."""
    from spikestream.runtime import pipeline

    global _PRESTARTED
    server = _PRESTARTED
    if server is not None and server.alive():
        try:
            got = server.load(str(path), logging.getLogger().getEffectiveLevel())
        except ForkServerError as e:
            logging.getLogger("spikestream.supervisor").warning("%s; checking the pipeline here", e)
            server.close()
            _PRESTARTED = None
        else:
            if got["loaded"] is not None or got.get("exception") == "PipelineError":
                for name, level, text in got["logs"]:
                    logging.getLogger(name).log(level, "%s", text)
                if got["loaded"] is None:
                    raise pipeline.PipelineError(got["error"])
                return pipeline.from_json(got["loaded"], str(path))
    return pipeline.load(path)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
