"""The node's control channel and state files, for `NodeRunner` (split out of loop.py): one command frame in,
one reply out; checkpoints written durably and read checked; the newest usable one restored at start."""

from __future__ import annotations

import os
from typing import Any

from spikestream import protocol as P
from spikestream.runtime import auth, checkpoint
from spikestream.runtime.node import Node


#: The commands every node's control channel answers (the node kind adds its own, `Node.COMMANDS`).
RUNTIME_COMMANDS = {
    "ping": "{}: 'pong' (no token needed)",
    "stats": "{}: the runtime's figures and the node's own (no token needed)",
    "help": "{}: this list (no token needed)",
    "save_state": "{path?}: write a checkpoint now (the node's state file, or path under the work folder)",
    "load_state": "{path?}: restore a checkpoint (checked whole before anything is written)",
    "stop": "{}: drain and stop the node (a supervisor restarts it unless the run is stopping)",
}


class ControlMixin:
    """`NodeRunner`'s commands and checkpoints (uses its spec, node, stats, log, warn and _ctl/_token)."""

    def _command(self, frame: bytes) -> bytes:
        ctl = getattr(self, "_ctl", None)
        if ctl is not None and ctl.rcvmore:  # a multipart request: take all of it, answer once, go on
            n = 1
            while ctl.rcvmore:
                ctl.recv()
                n += 1
            self.stats.rejected += 1
            return P.pack(P.Message(P.Reply(False, error=f"a command is one frame; got {n}")))
        try:
            msg = P.unpack(frame, 1 << 20, ("command",))
        except P.ProtocolError as e:
            self.stats.rejected += 1
            return P.pack(P.Message(P.Reply(False, error=str(e))))
        cmd, args = msg.body.cmd, msg.body.args
        if not auth.allowed(cmd, msg.body.token, self._token):
            self.stats.commands_refused += 1
            self.warn.warning("refused", f"control: refused {cmd!r} ({'wrong' if msg.body.token else 'no'} control token)")
            return P.pack(P.Message(P.Reply(False, error=f"refused: {cmd!r} needs the pipeline's control token")))
        try:
            if cmd == "ping":
                result: Any = "pong"
            elif cmd == "stats":  # the runtime's figures, and the node's own where its kind has them
                try:
                    own = self.node.on_command("stats", args)
                except ValueError:
                    own = None
                result = {"runtime": self.snapshot(), "node": own}
            elif cmd == "help":
                result = {"runtime": RUNTIME_COMMANDS, "node": dict(type(self.node).COMMANDS),
                          "kind": self.node.kind}
            elif cmd == "save_state":
                result = self.save_state(self._state_path(args.get("path")))
                if result is None:
                    raise ValueError("not saved: the node's state is emptier than the one it restored (see "
                                     "checkpoints_skipped)")
            elif cmd == "load_state":
                result = self.load_state(self._state_path(args.get("path")))
            elif cmd == "stop":
                self._stop = True
                result = "stopping"
            else:
                result = self.node.on_command(cmd, args)
            return P.pack(P.Message(P.Reply(True, P.plain(result))))
        except Exception as e:
            return P.pack(P.Message(P.Reply(False, error=f"{type(e).__name__}: {e}")))

    def save_state(self, path: str | None) -> str | None:
        """Checkpoint the node's state at `path`, durably, keeping `state_keep` generations (runtime/checkpoint).
        Not written (None, counted under checkpoints_skipped) when the state is empty or has fewer arrays than
        the restored one had: a node still waiting to rebuild what it restored (an SNN before its first
        packet) must not overwrite its learned state with nothing."""
        if not path:
            raise ValueError("no state path given and none configured")
        state = self.node.get_state()
        if not state or len(state) < self._restored_arrays:
            self.stats.checkpoints_skipped += 1
            self.warn.warning("ckpt-skip", f"checkpoint {path} not written: the node's state has {len(state)} "
                                           f"arrays, the restored one had {self._restored_arrays}; the last "
                                           "checkpoint stays")
            return None
        checkpoint.write(path, state, self.spec.state_keep)
        self.stats.checkpoints += 1
        return path

    def load_state(self, path: str | None) -> str:
        """Read checkpoint `path` (checked before anything is inflated or applied) and hand it to the node's
        `set_state`. Any failure is counted under state_rejected and raised; nothing of the file is kept."""
        if not path:
            raise ValueError("no state path given and none configured")
        try:
            state = checkpoint.read(path, self.spec.state_max_bytes)
            self.node.set_state(state)
        except Exception:
            self.stats.state_rejected += 1
            raise
        self._restored_arrays = len(state)
        return path

    def _restore(self, cls: type[Node]) -> None:
        """At start: load the newest usable checkpoint generation. If there are checkpoints but none is
        usable, start fresh (a new node, so nothing a failed `set_state` applied remains) with one ERROR
        line, or with state_fallback = "fail" raise (exit 78). Never a crash loop."""
        spec = self.spec
        checkpoint.check_settings(spec.state_keep, spec.state_fallback, spec.state_max_bytes)
        bad = []
        for p in checkpoint.generations(spec.state, spec.state_keep):
            if not os.path.exists(p):
                continue
            try:
                self.load_state(p)
            except Exception as e:
                bad.append(p)
                self.log.warning("checkpoint %s not usable: %s: %s", p, type(e).__name__, e)
                continue
            self.log.info("restored state from %s%s", p, f" ({len(bad)} newer checkpoint(s) unusable)" if bad else "")
            return
        if not bad:
            return  # no checkpoint yet
        if spec.state_fallback == "fail":
            raise ValueError(f"no usable checkpoint among {bad} (state_fallback = \"fail\")")
        self.log.error("STARTING WITH FRESH STATE: none of the %d checkpoint(s) of %s is usable (reasons above); "
                       "what the node had learned is lost (state_fallback = \"fail\" refuses to start instead)",
                       len(bad), spec.state)
        self.node = cls(spec.name, spec.params, emit=self._emit, log=self.log)
        self.node.curve_keys = spec.curve_keys  # a zmq_pub sink encrypts when the pipeline does (B2)
        self.node.setup()

    def _state_path(self, arg: Any) -> str:
        """Where a save_state/load_state command may write or read: the configured state file, or a file
        inside its folder (a relative name is taken in that folder; no `..`, no symlink out of it). A node
        with no state configured refuses every path."""
        if not self.spec.state:
            raise ValueError("this node has no state file configured: save_state/load_state are refused")
        if arg is None or arg == "":
            return self.spec.state
        if type(arg) is not str or "\0" in arg:
            raise ValueError(f"path must be a file name, got {arg!r}")
        base = os.path.realpath(os.path.dirname(os.path.abspath(self.spec.state)))
        p = os.path.realpath(os.path.join(base, arg))
        if p == base or os.path.commonpath([base, p]) != base:
            raise ValueError(f"path {arg!r} is outside the node's state folder {base}")
        return p
