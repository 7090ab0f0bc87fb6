"""`spikestream events info` and `spikestream convert`: library functions and the argparse wiring."""

import argparse
import json

import numpy as np
import pytest

import events_format_reference as fr
from spikestream.events.commands import add_commands, convert, info
from spikestream.events.io import open_reader, open_writer

W, H = 640, 480


@pytest.fixture
def evt3_file(tmp_path):
    ev = fr.moving_edges(50_000, W, H, t0=2_000_000, rate_mev_s=1.0, seed=31)
    p = tmp_path / "rec.raw"
    with open_writer(p, format="evt3", width=W, height=H) as w:
        w.write(ev)
    return p, ev


def test_info(evt3_file):
    p, ev = evt3_file
    d = info(p)
    span = int(ev["t"][-1] - ev["t"][0])
    assert d["format"] == "evt3" and (d["width"], d["height"]) == (W, H)
    assert d["events"] == len(ev)
    assert d["t_first_us"] == ev["t"][0] and d["t_last_us"] == ev["t"][-1]
    assert d["duration_s"] == pytest.approx(span / 1e6)
    assert d["rate_mev_s"] == pytest.approx(len(ev) / span)
    assert d["skipped"] == {}


@pytest.mark.parametrize("ext", [".raw", ".dat", ".npy", ".aedat4"])
def test_convert_chain_keeps_every_event(tmp_path, evt3_file, ext):
    p, ev = evt3_file
    out = tmp_path / f"out{ext}"
    d = convert(p, out, progress=False)
    assert d["events"] == len(ev)
    back = tmp_path / "back.raw"
    convert(out, back, format="evt2", progress=False, width=W, height=H)
    with open_reader(back) as r:
        got = np.concatenate(list(r))
        assert r.format == "evt2" and (r.width, r.height) == (W, H)
    np.testing.assert_array_equal(got, ev)


def test_convert_refuses_same_file_and_unknown_extension(tmp_path, evt3_file):
    p, _ = evt3_file
    with pytest.raises(ValueError, match="same file"):
        convert(p, p, progress=False)
    with pytest.raises(ValueError, match="extension"):
        convert(p, tmp_path / "x.weird", progress=False)


def _cli(argv):
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest="cmd", required=True)
    add_commands(sp)
    a = ap.parse_args(argv)
    return a.fn(a)


def test_cli_info_and_convert(tmp_path, evt3_file, capsys):
    p, ev = evt3_file
    assert _cli(["events", "info", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["events"] == len(ev) and d["format"] == "evt3"
    assert _cli(["events", "info", str(p)]) == 0
    text = capsys.readouterr().out
    assert "640x480" in text and f"{len(ev):,}" in text and "Mev/s" in text
    out = tmp_path / "o.dat"
    assert _cli(["convert", str(p), str(out)]) == 0  # with its progress bar
    assert info(out)["events"] == len(ev)
    assert _cli(["events", "convert", str(out), str(tmp_path / "o.npy"), "-q"]) == 0
    assert info(tmp_path / "o.npy")["events"] == len(ev)


def test_cli_errors_are_clear(tmp_path, capsys):
    assert _cli(["events", "info", str(tmp_path / "missing.raw")]) == 2
    assert "no such event file" in capsys.readouterr().err
    (tmp_path / "junk.raw").write_bytes(b"\x01\x02")
    assert _cli(["convert", str(tmp_path / "junk.raw"), str(tmp_path / "o.npy"), "-q"]) == 2
    assert "format" in capsys.readouterr().err
