"""The pipeline-running subcommands: `run`, `node`, `tap`, `cmd`, `top`, `keys`, `demo`, `warmup` (the CLI calls
`add_commands(subparsers)`; `spikestream.cli` holds the root parser and the one error handler)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time

from spikestream.cli import write_report


def cmd_run(a: argparse.Namespace) -> int:
    from spikestream.runtime import forkserver, pipeline
    from spikestream.runtime.supervisor import Supervisor

    try:
        pl = forkserver.load_pipeline(a.pipeline)  # checked by the fork server main() prestarted: no Numba here
    except pipeline.PipelineError as e:
        logging.error("%s", e)
        return 78  # EX_CONFIG
    sup = Supervisor(pl, workdir=a.workdir, host=a.host, log_level=a.log_level)
    if a.no_view or not sys.stdout.isatty():
        report = sup.run(a.duration)
    else:  # on a terminal: `top`'s table at the bottom, every log line above it (node logs: WORKDIR/logs)
        from spikestream.runtime.top import run_with_view

        report = run_with_view(sup, a.duration)
    write_report(a.report, report)
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
    write_report(a.report, {"endpoint": a.endpoint, "messages": n, "by_kind": kinds, "rejected": bad})
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

    report = run_demo(a.pipeline, a.duration, a.calibrate, a.calibrate_from)
    write_report(a.report, report)
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
    while len(src.emitted["spikes"]) < 100:
        src.poll()
    snn = NodeHarness(cfg["snn"]["kind"], cfg["snn"]["params"], "snn")
    out = NodeHarness(cfg["output"]["kind"], {**cfg["output"]["params"], "calibrate_s": 0.02, "calibrate_from_s": 0.0}, "output")
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


def _long_running(q: argparse.ArgumentParser) -> None:
    q.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    q.add_argument("--report", default=None, help="write a JSON summary of every node's stats here at exit")


def add_commands(sp) -> None:
    """Add the running subcommands to an argparse subparsers object."""
    q = sp.add_parser("run", help="run every node of a pipeline file as its own process, supervised")
    q.add_argument("pipeline")
    q.add_argument("--host", default=None, help="run only the nodes placed on this host (and unplaced ones)")
    q.add_argument("--workdir", default=None)
    q.add_argument("--no-view", action="store_true", help="no live table on a terminal (as when stdout is not "
                   "one): the nodes' log lines straight to stderr")
    _long_running(q)
    q.set_defaults(fn=cmd_run)

    q = sp.add_parser("node", help="run one node of a pipeline file (what a service unit or another host runs)")
    q.add_argument("pipeline")
    q.add_argument("name")
    _long_running(q)
    q.set_defaults(fn=cmd_node)

    q = sp.add_parser("tap", help="print the messages on a stream as JSON lines")
    q.add_argument("endpoint")
    q.add_argument("--count", type=int, default=None)
    q.add_argument("--bind", action="store_true", help="bind instead of connect (to collect a stats stream)")
    q.add_argument("--keys", default=None, help="CURVE key folder of an encrypted pipeline")
    _long_running(q)
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
    q.add_argument("--calibrate-from", type=float, default=None,
                   help="seconds of unsupervised learning before calibration starts (overrides the file)")
    _long_running(q)
    q.set_defaults(fn=cmd_demo, duration=60.0)

    q = sp.add_parser("warmup", help="compile the Numba kernels into their cache (done by `make`)")
    q.set_defaults(fn=cmd_warmup)
