"""`spikestream ...`: run a pipeline, one node, tap a stream, send a command, run the demo.

This module is the root: the parser, logging, `--version`, the one error handler (`main`), and the
configuration commands `kinds` and `check`. Each other group of subcommands lives with its area and adds
itself through `add_commands(subparsers)`: `runtime.commands` (run, node, tap, cmd, top, keys, demo,
warmup), `record.commands` (record, plot), `events.commands` (convert, events).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path

DESCRIPTION = "`spikestream ...`: run a pipeline, one node, tap a stream, send a command, run the demo."

# Optional areas that add their own subcommands through `add_commands(subparsers)` (a broken one is warned
# about, not fatal; the core groups, runtime.commands and record.commands, are added by `build_parser`).
COMMAND_MODULES = ("spikestream.events.commands",)


LOG_FORMAT_ENV = "SPIKESTREAM_LOG_FORMAT"  # how `run` hands --log-format to the nodes it starts


class _JsonLines(logging.Formatter):
    """One JSON object per line (journald, log shippers): time, level, logger, pid, message, exception."""

    def format(self, r: logging.LogRecord) -> str:
        d = {"t": self.formatTime(r, "%Y-%m-%dT%H:%M:%S") + f".{int(r.msecs):03d}", "level": r.levelname,
             "logger": r.name, "pid": r.process, "msg": r.getMessage()}
        if r.exc_info:
            d["exc"] = self.formatException(r.exc_info)
        return json.dumps(d)


def _logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname).1s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    os.environ[LOG_FORMAT_ENV] = fmt  # the nodes a supervisor starts log the same way


def write_report(path: str | None, report: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(report, indent=1))


def node_kinds(shipped_only: bool = False) -> dict[str, type]:
    """Every registered node kind -> its class (with `shipped_only`, the ones spikestream.nodes defines: no
    plugin's, none a test registered)."""
    from spikestream.registry import NODES

    kinds = {k: NODES.get(k) for k in NODES.names()}
    return {k: c for k, c in kinds.items() if c.__module__.startswith("spikestream.nodes.")} if shipped_only else kinds


def reference_text() -> str:
    """docs/reference.md, from the declarations of the shipped node kinds (`spikestream kinds --reference`)."""
    from spikestream.params import reference_markdown
    from spikestream.runtime.pipeline import RUNTIME

    return reference_markdown(node_kinds(shipped_only=True), RUNTIME)


def cmd_kinds(a: argparse.Namespace) -> int:
    from spikestream import registry as R

    if a.reference:
        sys.stdout.write(reference_text())
        return 0
    if a.params:
        from spikestream.params import params_text
        from spikestream.runtime.pipeline import RUNTIME

        print("every node table ([nodes.NAME]): kind, inputs, outputs, params, and")
        print("\n".join(params_text(RUNTIME)))
        for kind, cls in node_kinds().items():
            decl = getattr(cls, "PARAMS", None)
            ports = ", ".join([*(f"in {p}" for p in cls.inputs), *(f"out {p}" for p in cls.outputs)])
            print(f"\n{kind} ({ports or 'no ports'})")
            print("\n".join(params_text(decl)) if decl is not None else "  (parameters not declared)")
        return 0
    for reg in (R.NODES, R.SOURCES, R.CONDITIONERS, R.ENCODERS, R.NEURON_MODELS, R.LEARNING_RULES, R.DECODERS, R.SINKS,
                R.EVENT_FORMATS, R.EVENT_FILTERS):
        print(f"{reg.family}: {', '.join(reg.names()) or '-'}")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    """Validate a pipeline file (graph, runtime keys, every node's parameters) without starting anything."""
    from spikestream.runtime import pipeline

    pl = pipeline.load(a.pipeline, resolve_auto=False)  # a PipelineError: main's handler, one line, exit 78
    kinds = sorted({s.kind for s in pl.nodes.values()})
    print(f"{a.pipeline}: OK: pipeline {pl.name!r}, {len(pl.nodes)} node(s) ({', '.join(kinds)}), "
          f"{sum(len(v) for s in pl.nodes.values() for v in s.inputs.values())} link(s)")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import numba
    import numpy
    import zmq

    try:
        own = version("spikestream")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from spikestream import __version__ as own
    return f"{own} (Python {sys.version.split()[0]}, numpy {numpy.__version__}, numba {numba.__version__}, " \
           f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()})"


class _Version(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        print(f"spikestream {_version()}")
        parser.exit()


def _command_word(argv: list[str]) -> str | None:
    """The subcommand named on a command line, without parsing it (the root options take one value each)."""
    it = iter(argv)
    for x in it:
        if x in ("--log-level", "--log-format"):
            next(it, None)
        elif not x.startswith("-"):
            return x
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the `command` about to run, one that is a core command (run, node, ...) skips
    the optional areas' imports (`spikestream.events.commands` loads Numba: ~0.5 s more per node started)."""
    p = argparse.ArgumentParser(prog="spikestream", description=DESCRIPTION)
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=("text", "json"), default=os.environ.get(LOG_FORMAT_ENV, "text"),
                   help="json: one JSON object per line, for journald and log shippers (nodes started by `run` "
                        "follow it)")
    p.add_argument("--version", action=_Version, nargs=0, help="print the version (and numpy's, numba's, ZeroMQ's)")
    sp = p.add_subparsers(dest="command", required=True)

    importlib.import_module("spikestream.runtime.commands").add_commands(sp)  # run, node, tap, cmd, top, ...

    q = sp.add_parser("kinds", help="list every registered kind (nodes, encoders, models, ...)")
    q.add_argument("--params", action="store_true", help="each node kind's ports and declared parameters "
                   "(type = default (unit, range)), and the keys of every node table")
    q.add_argument("--reference", action="store_true", help="print docs/reference.md (generated from the same "
                   "declarations): `spikestream kinds --reference > docs/reference.md`")
    q.set_defaults(fn=cmd_kinds)

    q = sp.add_parser("check", help="validate a pipeline file (graph and every parameter) without starting "
                      "anything: exit 0, or 78 with one line naming the file, the table and the key")
    q.add_argument("pipeline")
    q.set_defaults(fn=cmd_check)

    importlib.import_module("spikestream.record.commands").add_commands(sp)  # record, plot
    for mod in () if command in sp.choices else COMMAND_MODULES:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                logging.getLogger("spikestream.cli").warning("commands from %s unavailable: %s", mod, e)
            continue
        except Exception as e:  # a broken optional area must not take the whole CLI down
            logging.getLogger("spikestream.cli").warning("commands from %s unavailable: %s", mod, e)
            continue
        m.add_commands(sp)
    return p


#: Exit code for a configuration the program cannot run with (sysexits EX_CONFIG; systemd units do not
#: restart on it: RestartPreventExitStatus=78).
EX_CONFIG = 78


def main(argv: list[str] | None = None) -> int:
    """Every subcommand behind one handler: a configuration error is one located line and exit 78 (no
    traceback), Ctrl-C exits 130, and a closed stdout (`spikestream kinds | head`) ends quietly."""
    command = _command_word(sys.argv[1:] if argv is None else argv)
    if command in ("run", "demo"):  # node processes will be forked from it: its imports run meanwhile (first)
        from spikestream.runtime import forkserver

        forkserver.prestart()
    from spikestream.params import ParamError
    from spikestream.registry import UnknownKind
    from spikestream.runtime.pipeline import PipelineError

    a = build_parser(command).parse_args(argv)
    _logging(a.log_level, a.log_format)
    try:
        rc = a.fn(a) or 0
        sys.stdout.flush()  # here, not at exit: a reader that went away is handled below
        return rc
    except (PipelineError, ParamError, UnknownKind) as e:
        print(f"spikestream {a.command}: configuration error: {e}", file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away: nothing left to say, and no "Exception ignored" at exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
