"""`spikestream record` and `spikestream plot`: pipeline streams to an XDF file, a recording to a figure (the CLI
calls `add_commands(subparsers)`)."""

from __future__ import annotations

import argparse
import json
import sys

from spikestream.cli import write_report


def cmd_record(a: argparse.Namespace) -> int:
    """Pipeline streams -> an XDF file (spikestream.record.recorder)."""
    from spikestream.record.recorder import record

    try:
        summary = record(a.endpoints, a.output, a.duration, a.keys)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary), file=sys.stderr)
    write_report(a.report, summary)
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


def add_commands(sp) -> None:
    """Add `record` and `plot` to an argparse subparsers object."""
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
