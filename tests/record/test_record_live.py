"""`spikestream record` on a real running pipeline (synthetic EMG with its encoder -> learning SNN -> control
output, every node its own process), checked three ways: against a plain SUB socket that listened beside it
(pyxdf reading the file), by replaying the file through the file source, and by running the recorded
samples through the same stages in-process, which must give the recorded control values exactly.

One pipeline run serves the whole module (the machine is small and busy). Its decoder is a rate readout,
not a readout calibrated live: the output node aligns a calibration target to each spike packet by the
order in which the two inputs arrive, which a loaded machine varies, so a live calibration is not
reproducible bit for bit (docs/recording.md). Everything else on the path is: the SNN's spikes and the
control values must be equal bit for bit.
"""

import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zmq

from spikestream import protocol as P
from spikestream import transport
from spikestream.record.xdf import read_xdf
from spikestream.testing import NodeHarness

pyxdf = pytest.importorskip("pyxdf")
PY = sys.executable
RATE, CHUNK, CHANNELS = 1000, 10, 4
ENCODER = {"encoder": "delta", "threshold": 0.25}
SNN = {"dt_us": 1000, "seed": 2, "outputs": ["hidden"],
       "layers": [{"name": "hidden", "n": 16, "model": "lif"}],
       "connections": [{"pre": "input", "post": "hidden", "rule": "all_to_all", "synapse": "exp_current",
                        "delay_ms": 1.0, "weight": {"init": "uniform", "low": 0.5, "high": 2.0},
                        "plasticity": {"rule": "stdp_pair", "a_plus": 0.01, "a_minus": 0.008, "tau_plus_ms": 20,
                                       "tau_minus_ms": 20, "w_max": 4.0, "bound": "soft"}}]}
OUTPUT = {"calibrate_s": 0.0, "names": ["dof0", "dof1"], "max_age_ms": float("inf"),
          "decoder": {"kind": "rate", "n_inputs": 16, "n_outputs": 2, "tau_ms": 50.0},
          "safety": {"timeout_s": 30.0}}


def _ep():
    return f"tcp://127.0.0.1:{transport.free_tcp_port()}"


def _toml(d: dict) -> str:
    """An inline TOML table (enough for these parameters: numbers, strings, lists, tables)."""
    def v(x):
        if isinstance(x, dict):
            return "{ " + ", ".join(f"{k} = {v(y)}" for k, y in x.items()) + " }"
        if isinstance(x, list):
            return "[" + ", ".join(v(y) for y in x) + "]"
        if isinstance(x, str):
            return json.dumps(x)
        if isinstance(x, float) and x == float("inf"):
            return "inf"
        return repr(x)
    return v(d)


def _pipeline(d, e):
    src = {"channels": CHANNELS, "rate_hz": RATE, "dof": 2, "seed": 3, "chunk": CHUNK, "pace": "realtime",
           "duration_s": 4.0, "max_lag_s": 1000.0, "encoder": ENCODER}
    p = d / "p.toml"
    p.write_text(f"""
[nodes.emg]
kind = "emg_synth"
outputs = {{ samples = "{e['samples']}", spikes = "{e['spikes']}", target = "{e['target']}" }}
params = {_toml(src)}

[nodes.snn]
kind = "snn"
inputs = {{ in = "emg.spikes" }}
outputs = {{ out = "{e['snn']}" }}
state = "{d / 'snn.npz'}"
params = {_toml(SNN)}

[nodes.output]
kind = "control_output"
inputs = {{ in = "snn.out", target = "emg.target" }}
outputs = {{ out = "{e['out']}" }}
params = {_toml(OUTPUT)}
""")
    return p


class Collector(threading.Thread):
    """A plain SUB socket on some endpoints: every message it saw, decoded."""

    def __init__(self, endpoints):
        super().__init__(daemon=True)
        self.ctx = zmq.Context()
        self.sock = transport.sub(self.ctx, endpoints, transport.SocketOptions(hwm=100_000))
        self.msgs, self.halt = [], threading.Event()

    def run(self):
        while not self.halt.is_set():
            if self.sock.poll(50):
                self.msgs.append(P.unpack(self.sock.recv()))
        self.sock.close(linger=0)
        self.ctx.term()


def _run_once(d):
    d.mkdir(parents=True, exist_ok=True)
    e = {k: _ep() for k in ("samples", "spikes", "target", "snn", "out")}
    p = _pipeline(d, e)
    out = d / "run.xdf"
    col = Collector([e["samples"], e["out"]])
    col.start()
    rec = subprocess.Popen([PY, "-m", "spikestream", "record", e["samples"], e["target"], e["snn"], e["out"],
                            "-o", str(out), "--report", str(d / "rec.json")], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the recorder subscribes before the source binds: it sees the stream from its first row
    run = subprocess.run([PY, "-m", "spikestream", "run", str(p), "--workdir", str(d / "work"), "--duration", "120"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    time.sleep(1.0)
    rec.send_signal(signal.SIGTERM)  # footers are written on SIGTERM
    err = rec.communicate(timeout=60)[1]
    assert rec.returncode == 0, err[-3000:]
    col.halt.set()
    col.join(30)
    return out, col.msgs, p, json.loads((d / "rec.json").read_text())


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A recording that caught every stream from its first message (retried if the recorder subscribed late)."""
    for attempt in range(3):
        d = tmp_path_factory.mktemp(f"live{attempt}")
        out, seen, p, summary = _run_once(d)
        heads = {s.name: s for s in read_xdf(out)}
        if all(heads[n].desc("spikestream/first_seq", footer=True) == "0" for n in ("emg.samples", "output.out")):
            return {"xdf": out, "seen": seen, "pipeline": p, "dir": d, "summary": summary}
    pytest.fail("the recorder missed the first messages three times")


def _rows(msgs, stream):
    ms = [m for m in msgs if m.stream == stream]
    return np.concatenate([m.body.t_us for m in ms]), np.concatenate([m.body.data for m in ms])


def test_pyxdf_reads_what_a_subscriber_saw(live):
    streams, _ = pyxdf.load_xdf(str(live["xdf"]), dejitter_timestamps=False)
    got = {s["info"]["name"][0]: s for s in streams}
    assert set(got) == {"emg.samples", "emg.target", "snn.out", "output.out"}
    s = got["emg.samples"]
    assert s["info"]["channel_count"] == [str(CHANNELS)] and float(s["info"]["nominal_srate"][0]) == RATE
    t = np.round(s["time_stamps"] * 1e6).astype(np.int64)
    assert len(t) == 4 * RATE  # duration_s of rows, none lost
    assert s["footer"]["info"]["desc"][0]["spikestream"][0]["dropped_messages"] == ["0"]
    seen_t, seen_v = _rows(live["seen"], "emg.samples")
    common, i_rec, i_seen = np.intersect1d(t, seen_t, return_indices=True)
    assert common.size > 0.5 * t.size  # the plain subscriber, too, saw most of the run
    assert np.array_equal(s["time_series"][i_rec], seen_v[i_seen])
    # the control stream: value for value, stamp for stamp
    ctl = [m for m in live["seen"] if m.stream == "output.out"]
    c = got["output.out"]
    ct = np.round(c["time_stamps"] * 1e6).astype(np.int64)
    by_t = {(int(tt), bool(v[-1])): v[:-1] for tt, v in zip(ct, c["time_series"])}
    assert len(ctl) > 100
    for m in ctl:
        assert np.array_equal(by_t[(m.t_us, m.body.safe)], m.body.values)
    # spikes: every one of the SNN's packets, each spike at its own time
    sp = got["snn.out"]
    assert sp["info"]["desc"][0]["spikestream"][0]["n_neurons"] == ["16"] and sp["time_series"].shape[0] > 0
    assert live["summary"]["malformed"] == 0


def test_the_recording_replays_through_the_file_source(live):
    from spikestream.nodes.sources import FileSourceNode
    from spikestream.sources.files import FileSource

    s = next(x for x in read_xdf(live["xdf"]) if x.name == "emg.samples")
    t = np.round(s.time_stamps * 1e6).astype(np.int64)
    src = FileSource(str(live["xdf"]), stream="emg.samples")
    assert src.rate_hz == RATE and src.channels == s.labels and src.stats["gaps"] == 0
    c = src.read(10 ** 6)
    assert np.array_equal(c.t_us, t) and np.array_equal(c.data, s.time_series)
    h = NodeHarness(FileSourceNode, {"path": str(live["xdf"]), "stream": "emg.samples", "pace": "fast", "chunk": 7},
                    name="replay")
    h.run()
    assert h.node.finished
    out = [e.body for e in h.out]
    assert np.array_equal(np.concatenate([b.t_us for b in out]), t)
    assert np.array_equal(np.concatenate([b.data for b in out]), s.time_series)


def test_a_recorded_run_replayed_gives_the_same_control_output_as_live(live):
    """The recorded samples, in the source's chunks, through the encoder, SNN and output nodes in-process:
    the control values equal the recorded live ones exactly (the SNN learned along the way in both)."""
    from spikestream.nodes.encoder import EncoderNode
    from spikestream.nodes.output import ControlOutputNode
    from spikestream.nodes.snn import SNNNode

    s = next(x for x in read_xdf(live["xdf"]) if x.name == "emg.samples")
    t, data = np.round(s.time_stamps * 1e6).astype(np.int64), s.time_series
    out = NodeHarness(ControlOutputNode, OUTPUT, name="output")
    snn = NodeHarness(SNNNode, SNN, name="snn")
    enc = NodeHarness(EncoderNode, ENCODER, name="emg.encoder")
    enc.connect("out", snn).connect("out", out)  # the pipeline's links, in one process
    for k in range(0, t.size, CHUNK):
        body = P.Samples(t[k:k + CHUNK], data[k:k + CHUNK], float(RATE), s.labels)
        enc.send("in", body, stream="emg.samples", t_us=int(t[min(k + CHUNK, t.size) - 1]))
    spikes = snn.bodies("out")
    replayed = {}
    for e in out.out:
        if not e.body.safe:
            replayed.setdefault(e.t_us, e.body)
    sp = next(x for x in read_xdf(live["xdf"]) if x.name == "snn.out")  # the SNN's spikes: bit for bit
    assert np.array_equal(np.round(sp.time_stamps * 1e6).astype(np.int64), np.concatenate([b.t_us for b in spikes]))
    assert np.array_equal(sp.time_series[:, 0], np.concatenate([b.idx for b in spikes]))
    c = next(x for x in read_xdf(live["xdf"]) if x.name == "output.out")
    live_t = np.round(c.time_stamps * 1e6).astype(np.int64)
    live_v = c.time_series
    fresh = live_v[:, -1] == 0
    assert fresh.sum() > 0.9 * len(replayed)  # nearly every packet's control was recorded
    assert np.abs(live_v[fresh, :-1]).max() > 0  # the network fired: the values say something
    mine = np.stack([replayed[int(tu)].values for tu in live_t[fresh]])
    np.testing.assert_array_equal(mine, live_v[fresh, :-1])


def _rows_in(path):
    try:
        return sum(len(s.time_stamps) for s in read_xdf(path))
    except (OSError, ValueError):  # not created, or its first bytes not written yet
        return 0


def test_a_killed_recorder_leaves_a_readable_file(tmp_path):
    """SIGKILL: no footers, but every chunk flushed before it is there for pyxdf."""
    ep = _ep()
    out = tmp_path / "killed.xdf"
    rec = subprocess.Popen([PY, "-m", "spikestream", "record", ep, "-o", str(out)], stderr=subprocess.DEVNULL)
    ctx = zmq.Context()
    pub = transport.pub(ctx, ep)
    try:
        sent = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            t = np.arange(sent * 10, sent * 10 + 10, dtype=np.int64) * 1000
            pub.send(P.pack(P.Message(P.Samples(t, np.full((10, 2), sent, np.float32), 1000.0), "x.samples", sent,
                                      int(t[-1]), 1)))
            pub.send(b"\x93not a message")  # counted and skipped, never fatal
            sent += 1
            time.sleep(0.01)
            if sent % 50 == 0 and _rows_in(out) >= 200:
                break
        rec.send_signal(signal.SIGKILL)
        rec.wait(30)
    finally:
        pub.close(linger=0)
        ctx.term()
    streams, _ = pyxdf.load_xdf(str(out), dejitter_timestamps=False)
    s = streams[0]
    assert "footer" not in s and s["time_series"].shape[0] >= 200
    k = np.round(s["time_stamps"] * 1e6).astype(np.int64) // 10_000  # the message each row came from
    assert np.array_equal(s["time_series"][:, 0], k.astype(np.float32))


def test_plot_of_the_live_run_with_the_snn_weights(live):
    """`spikestream plot` on the run: samples, raster, rates, control vs target and the SNN's learned
    weights (its checkpoint, rebuilt through the pipeline file)."""
    from PIL import Image

    png = live["dir"] / "run.png"
    r = subprocess.run([PY, "-m", "spikestream", "plot", str(live["xdf"]), "-o", str(png), "--state",
                        str(live["dir"] / "snn.npz"), "--pipeline", str(live["pipeline"]), "--node", "snn"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    panels = json.loads(r.stdout)["panels"]
    assert panels == ["samples: emg.samples", "raster: snn.out", "rate: snn.out", "control: output.out",
                      "weights: input->hidden"]
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape == (5 * 220, 1000, 3)  # 5 panels of 2.2 in, 10 in wide, at 100 dpi
    assert img.std() > 0 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_record_for_a_duration_with_nothing_published_and_a_bad_endpoint(tmp_path):
    out = tmp_path / "empty.xdf"
    r = subprocess.run([PY, "-m", "spikestream", "record", _ep(), "-o", str(out), "--duration", "0.5", "--report",
                        str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "r.json").read_text())["messages"] == 0
    streams, header = pyxdf.load_xdf(str(out))
    assert streams == [] and header["info"]["version"] == ["1.0"]
    r = subprocess.run([PY, "-m", "spikestream", "record", "http://nope", "-o", str(tmp_path / "x.xdf")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "error:" in r.stderr
