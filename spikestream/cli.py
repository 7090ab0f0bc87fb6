"""`spikestream ...`: run a pipeline, one node, tap a stream, send a command, run the demo."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path

# Areas that add their own subcommands through `add_commands(subparsers)`.
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


def _write_report(path: str | None, report: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(report, indent=1))


def cmd_run(a: argparse.Namespace) -> int:
    from spikestream.runtime import pipeline
    from spikestream.runtime.supervisor import Supervisor

    try:
        pl = pipeline.load(a.pipeline)
    except pipeline.PipelineError as e:
        logging.error("%s", e)
        return 78  # EX_CONFIG
    sup = Supervisor(pl, workdir=a.workdir, host=a.host, log_level=a.log_level)
    if a.no_view or not sys.stdout.isatty():
        report = sup.run(a.duration)
    else:  # on a terminal: `top`'s table at the bottom, every log line above it (node logs: WORKDIR/logs)
        from spikestream.runtime.top import run_with_view

        report = run_with_view(sup, a.duration)
    _write_report(a.report, report)
    failed = [n for n, r in report["nodes"].items() if r["state"] == "failed"]
    return report["exit_code"] or (1 if failed else 0)  # 78: a node cannot run as configured


def cmd_node(a: argparse.Namespace) -> int:
    from spikestream.runtime import pipeline
    from spikestream.runtime.loop import EX_CONFIG, NodeRunner

    try:
        pl = pipeline.load(a.pipeline, resolve_auto=False)
        spec = pl.nodes[a.name]
    except KeyError:
        logging.error("no node %r in %s", a.name, a.pipeline)
        return EX_CONFIG
    except pipeline.PipelineError as e:
        logging.error("%s", e)
        return EX_CONFIG
    eps = [*spec.outputs.values(), *(e for v in spec.inputs.values() for e in v), spec.control or "", pl.stats or ""]
    if any(e.endswith(":auto") for e in eps):
        logging.error("node %r uses ':auto' endpoints; give explicit ports to run it alone "
                      "(`spikestream run` resolves them)", a.name)
        return EX_CONFIG
    return NodeRunner(spec, pl.stats).run(a.duration, a.report)


def cmd_tap(a: argparse.Namespace) -> int:
    import zmq

    from spikestream import protocol as P
    from spikestream import transport

    ctx = zmq.Context.instance()
    curve = transport.load_curve_keys(a.keys) if a.keys else None
    auth = transport.start_authenticator(ctx, curve) if curve and a.bind else None
    s = transport.sub(ctx, [a.endpoint], transport.SocketOptions(curve=curve), bind=a.bind)
    t_end = time.monotonic() + a.duration if a.duration else None
    n = 0
    kinds: dict[str, int] = {}
    bad = 0
    try:
        while (a.count is None or n < a.count) and (t_end is None or time.monotonic() < t_end):
            if not s.poll(100):
                continue
            frame = s.recv()
            try:
                m = P.unpack(frame)
            except P.ProtocolError as e:
                bad += 1
                print(json.dumps({"error": str(e), "bytes": len(frame)}), flush=True)
                continue
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
            d = P.to_jsonable(m)
            if m.origin_ns:
                d["latency_ms"] = round((time.time_ns() - m.origin_ns) / 1e6, 3)
            print(json.dumps(d), flush=True)
            n += 1
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        s.close(linger=0)
        if auth is not None:
            auth.stop()
    _write_report(a.report, {"endpoint": a.endpoint, "messages": n, "by_kind": kinds, "rejected": bad})
    return 0


def cmd_cmd(a: argparse.Namespace) -> int:
    import zmq

    from spikestream import protocol as P
    from spikestream import transport

    args = json.loads(a.args) if a.args else {}
    from spikestream.runtime import auth

    try:
        token = auth.token_from_env(token_file=a.token_file) or ""
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    frame = P.pack(P.Message(P.Command(a.command, args, token)))
    curve = transport.load_curve_keys(a.keys) if a.keys else None
    try:
        reply = P.unpack(transport.request(zmq.Context.instance(), a.endpoint, frame, a.timeout, curve), kinds=("reply",))
    except (TimeoutError, P.ProtocolError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"ok": reply.body.ok, "result": reply.body.result, "error": reply.body.error}))
    return 0 if reply.body.ok else 1


def cmd_demo(a: argparse.Namespace) -> int:
    from spikestream.runtime.demo import run_demo

    report = run_demo(a.pipeline, a.duration, a.calibrate)
    _write_report(a.report, report)
    return 0 if report["ok"] else 1


def cmd_warmup(a: argparse.Namespace) -> int:
    """Compile the Numba kernels into their cache, so that nodes start in about a second."""
    import tomllib

    import numpy as np

    from spikestream.runtime.demo import DEFAULT_PIPELINE
    from spikestream.snn.warmup import warmup

    t0 = time.perf_counter()
    warmup()
    # the demo's own nodes, fed through the wire format as the runtime feeds them (the kernels compile for the
    # wire's dtypes): its source (in fast pacing), its SNN, and its output past calibration, so that the
    # safety stage runs too
    import logging

    from spikestream.testing import NodeHarness

    logging.getLogger("spikestream.node").setLevel(logging.WARNING)  # its "calibration ended" is not news here
    cfg = tomllib.loads(DEFAULT_PIPELINE.read_text())["nodes"]
    src = NodeHarness(cfg["emg"]["kind"], {**cfg["emg"]["params"], "pace": "fast", "progress": False}, "emg")
    while len(src.bodies("spikes")) < 100:
        src.poll()
    snn = NodeHarness(cfg["snn"]["kind"], cfg["snn"]["params"], "snn")
    out = NodeHarness(cfg["output"]["kind"], {**cfg["output"]["params"], "calibrate_s": 0.02}, "output")
    for body in src.bodies("target"):
        out.send("target", body)
    for body in src.bodies("spikes")[:100]:
        snn.send("in", body)
    for body in snn.bodies("out"):
        out.send("in", body)
        out.poll()
    for h in (src, snn, out):
        h.node.close()
    print(f"kernels compiled and cached in {time.perf_counter() - t0:.1f} s ({np.__name__} {np.__version__})")
    return 0


def cmd_keys(a: argparse.Namespace) -> int:
    from spikestream.transport import make_curve_keys

    c = make_curve_keys(a.dir)
    print(f"CURVE keys written to {a.dir} (server, client; the client admitted in {c.authorized}).\n"
          f"Set curve_keys = \"{a.dir}\" under [pipeline]; give --keys {a.dir} to tap and cmd.")
    return 0


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


def cmd_record(a: argparse.Namespace) -> int:
    """Pipeline streams -> an XDF file (spikestream.record.recorder)."""
    from spikestream.record.recorder import record

    try:
        summary = record(a.endpoints, a.output, a.duration, a.keys)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary), file=sys.stderr)
    _write_report(a.report, summary)
    return 0


def cmd_plot(a: argparse.Namespace) -> int:
    """A recording (and an SNN checkpoint) -> a figure (spikestream.record.plot)."""
    from spikestream.record.plot import PlotError, plot

    try:
        done = plot(a.recording, a.output, a.streams, a.state, a.pipeline, a.node)
    except (PlotError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(done))
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spikestream", description=__doc__)
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=("text", "json"), default=os.environ.get(LOG_FORMAT_ENV, "text"),
                   help="json: one JSON object per line, for journald and log shippers (nodes started by `run` "
                        "follow it)")
    p.add_argument("--version", action=_Version, nargs=0, help="print the version (and numpy's, numba's, ZeroMQ's)")
    sp = p.add_subparsers(dest="command", required=True)

    def long_running(q: argparse.ArgumentParser) -> None:
        q.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
        q.add_argument("--report", default=None, help="write a JSON summary of every node's stats here at exit")

    q = sp.add_parser("run", help="run every node of a pipeline file as its own process, supervised")
    q.add_argument("pipeline")
    q.add_argument("--host", default=None, help="run only the nodes placed on this host (and unplaced ones)")
    q.add_argument("--workdir", default=None)
    q.add_argument("--no-view", action="store_true", help="no live table on a terminal (as when stdout is not "
                   "one): the nodes' log lines straight to stderr")
    long_running(q)
    q.set_defaults(fn=cmd_run)

    q = sp.add_parser("node", help="run one node of a pipeline file (what a service unit or another host runs)")
    q.add_argument("pipeline")
    q.add_argument("name")
    long_running(q)
    q.set_defaults(fn=cmd_node)

    q = sp.add_parser("tap", help="print the messages on a stream as JSON lines")
    q.add_argument("endpoint")
    q.add_argument("--count", type=int, default=None)
    q.add_argument("--bind", action="store_true", help="bind instead of connect (to collect a stats stream)")
    q.add_argument("--keys", default=None, help="CURVE key folder of an encrypted pipeline")
    long_running(q)
    q.set_defaults(fn=cmd_tap)

    q = sp.add_parser("cmd", help="send a command to a node's control endpoint")
    q.add_argument("endpoint")
    q.add_argument("command")
    q.add_argument("args", nargs="?", default=None, help="JSON object of arguments")
    q.add_argument("--timeout", type=float, default=2.0)
    q.add_argument("--keys", default=None, help="CURVE key folder of an encrypted pipeline")
    q.add_argument("--token-file", default=None, help="the pipeline's control token (`spikestream run` writes "
                   "WORKDIR/control.token); default: $SPIKESTREAM_CONTROL_TOKEN or $SPIKESTREAM_CONTROL_TOKEN_FILE")
    q.set_defaults(fn=cmd_cmd)

    q = sp.add_parser("top", help="watch a running pipeline's nodes (rates, drops, latency, CPU, learning) "
                      "through their control endpoints")
    q.add_argument("targets", nargs="+", metavar="PIPELINE|ENDPOINT", help="a pipeline file (each node's "
                   "`control` endpoint) or control endpoints (tcp://..., ipc://...)")
    q.add_argument("--workdir", default=None, help="the run's --workdir: its pipeline.resolved.json gives "
                   "the `:auto` endpoints")
    q.add_argument("--interval", type=float, default=0.25, help="seconds between refreshes")
    q.add_argument("--timeout", type=float, default=1.0, help="a node silent this long is 'not answering'")
    q.add_argument("--once", action="store_true", help="print one snapshot as plain text and exit "
                   "(exit 1 if a node does not answer)")
    q.add_argument("--json", action="store_true", help="print one JSON line per refresh (with --once: one)")
    q.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    q.add_argument("--keys", default=None, help="CURVE key folder (default: the pipeline's curve_keys)")
    q.set_defaults(fn=lambda a: importlib.import_module("spikestream.runtime.top").main(a))

    q = sp.add_parser("keys", help="create CURVE keys for an encrypted, authenticated pipeline")
    q.add_argument("dir")
    q.set_defaults(fn=cmd_keys)

    q = sp.add_parser("demo", help="run the EMG -> SNN -> control demo pipeline on this machine")
    q.add_argument("--pipeline", default=None, help="default: deploy/demo.toml")
    q.add_argument("--calibrate", type=float, default=None, help="calibration seconds (overrides the file)")
    long_running(q)
    q.set_defaults(fn=cmd_demo, duration=20.0)

    q = sp.add_parser("warmup", help="compile the Numba kernels into their cache (done by `make`)")
    q.set_defaults(fn=cmd_warmup)

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

    q = sp.add_parser("record", help="record pipeline streams (output endpoints) to an XDF file (docs/recording.md)")
    q.add_argument("endpoints", nargs="+", metavar="ENDPOINT")
    q.add_argument("-o", "--output", required=True, help="the .xdf file to write")
    q.add_argument("--keys", default=None, help="CURVE key folder of an encrypted pipeline")
    q.add_argument("--duration", type=float, default=None, help="stop after this many seconds (else Ctrl-C/SIGTERM)")
    q.add_argument("--report", default=None, help="write the recording's JSON summary here at exit")
    q.set_defaults(fn=cmd_record)

    q = sp.add_parser("plot", help="plot a recording (.xdf): samples, spike raster and rates, control vs target")
    q.add_argument("recording")
    q.add_argument("-o", "--output", required=True, help="the figure: .png, .svg or .pdf")
    q.add_argument("--streams", nargs="+", default=None, help="only these streams (by name)")
    q.add_argument("--state", default=None, help="an SNN node's checkpoint (.npz): plot its weights")
    q.add_argument("--pipeline", default=None, help="with --state: the pipeline file, to rebuild the network")
    q.add_argument("--node", default="snn", help="with --pipeline: the SNN node's name (default snn)")
    q.set_defaults(fn=cmd_plot)

    for mod in COMMAND_MODULES:
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
    from spikestream.params import ParamError
    from spikestream.registry import UnknownKind
    from spikestream.runtime.pipeline import PipelineError

    a = build_parser().parse_args(argv)
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
