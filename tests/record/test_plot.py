"""`spikestream plot` on a recording made here in-process (every kind), PNG and SVG; its selection, the
checkpoint-only weight histogram and the error when matplotlib is missing."""

import subprocess
import sys

import numpy as np
import pytest

from spikestream import protocol as P
from spikestream.record.plot import PlotError, plot
from spikestream.record.recorder import Recording
from spikestream.record.xdf import XDFWriter

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "all.xdf"
    rng = np.random.default_rng(1)
    rec = Recording(XDFWriter(path))
    for k in range(150):
        t = np.arange(k * 10, k * 10 + 10, dtype=np.int64) * 1000
        y = np.sin(t / 3e5)[:, None].astype(np.float32)
        rec.add(P.Message(P.Samples(t, rng.standard_normal((10, 6)).astype(np.float32), 1000.0), "emg.samples", k, int(t[-1])))
        rec.add(P.Message(P.Samples(t, np.hstack([y, -y]), 1000.0, ["grip", "wrist"]), "emg.target", k, int(t[-1])))
        m = int(rng.integers(0, 25))
        rec.add(P.Message(P.Spikes(int(t[0]), int(t[0]) + 10_000, 30, rng.integers(0, 30, m).astype(np.uint32),
                                   np.sort(rng.integers(t[0], t[0] + 10_000, m))), "snn.out", k, int(t[0]) + 10_000))
        rec.add(P.Message(P.Control(np.array([y[-1, 0] + 0.1, -y[-1, 0]]), ["grip", "wrist"], k == 149), "output.out", k,
                          int(t[-1])))
        n = int(rng.integers(1, 40))
        rec.add(P.Message(P.Events(int(t[0]), int(t[0]) + 10_000, 64, 48, rng.integers(0, 64, n).astype(np.uint16),
                                   rng.integers(0, 48, n).astype(np.uint16), np.sort(rng.integers(t[0], t[0] + 10_000, n)),
                                   rng.integers(0, 2, n).astype(np.uint8)), "cam.events", k, int(t[0]) + 10_000))
    rec.close()
    return path


def _check_png(path, panels):
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (panels * 220, 1000, 3)
    assert img.std() > 0 and len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # not blank, several colours


def test_png_has_one_panel_per_kind_and_the_target_over_the_control(recording, tmp_path):
    done = plot(str(recording), str(tmp_path / "a.png"))
    assert done["panels"] == ["samples: emg.samples", "raster: snn.out", "rate: snn.out", "control: output.out",
                              "events: cam.events"]  # emg.target drawn in the control panel, not its own
    _check_png(tmp_path / "a.png", 5)


def test_svg_and_a_selection_of_streams(recording, tmp_path):
    done = plot(str(recording), str(tmp_path / "a.svg"), streams=["snn.out"])
    assert done["panels"] == ["raster: snn.out", "rate: snn.out"]
    text = (tmp_path / "a.svg").read_text()
    assert "<svg" in text and "snn.out" in text
    with pytest.raises(PlotError, match="no stream with data"):
        plot(str(recording), str(tmp_path / "b.svg"), streams=["nothing"])


def test_weights_from_a_checkpoint_alone_are_a_histogram(recording, tmp_path):
    from spikestream.nodes.snn import SNNNode
    from spikestream.runtime import checkpoint

    n = SNNNode("snn", {"n_inputs": 8, "layers": [{"name": "h", "n": 5, "model": "lif"}],
                        "connections": [{"pre": "input", "post": "h", "rule": "all_to_all"}]})
    n.setup()
    checkpoint.write(str(tmp_path / "snn.npz"), n.get_state())
    done = plot(str(recording), str(tmp_path / "w.png"), streams=["output.out"], state=str(tmp_path / "snn.npz"))
    assert done["panels"] == ["control: output.out", "weights: all weights"]
    _check_png(tmp_path / "w.png", 2)


def test_without_matplotlib_the_error_says_what_to_install(recording, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotError, match=r"spikestream\[plot\]"):
        plot(str(recording), str(tmp_path / "x.png"))


def test_cli_exits_2_with_one_line_on_a_bad_file(tmp_path):
    bad = tmp_path / "bad.xdf"
    bad.write_bytes(b"not xdf")
    r = subprocess.run([sys.executable, "-m", "spikestream", "plot", str(bad), "-o", str(tmp_path / "x.png")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not an XDF file" in r.stderr
