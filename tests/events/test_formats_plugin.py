"""Adding an event-file format is one module: a `FormatSpec` (name, extensions, header sniffing, reader, optional
writer) registered in `EVENT_FORMATS`; `spikestream.events.io` finds it by extension, by header and by name from
the registry alone, and every reader of the package (`open_reader`, `open_writer`, `convert`, the event_camera
node) then takes it.

The end-to-end case runs in a subprocess so that the toy format does not join this process's registry (the
kinds listings and reference pages other tests check)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import events_reference as ref
from spikestream.events.io import EventFormatError, detect_format, open_reader, open_writer, writer_for_extension
from spikestream.registry import EVENT_FORMATS, UnknownKind

#: The whole of a new format, as a plugin would ship it: a magic line, the sensor size, then the events as
#: packed EVENT_DTYPE records.
TOY = '''
import struct

import numpy as np

from spikestream.events.blockio import EventWriter, PacketReader
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import FormatSpec, register_format

MAGIC = b"TOYEV1\\n"


class ToyReader(PacketReader):
    format = "toy"

    def __init__(self, path, chunk_events=1 << 18):
        super().__init__(path, chunk_events)
        head = self._f.read(len(MAGIC) + 4)
        if not head.startswith(MAGIC) or len(head) < len(MAGIC) + 4:
            self._fail("not a toy event file")
        self.width, self.height = struct.unpack("<HH", head[len(MAGIC):])

    def _next_packet(self):
        raw = self._f.read(self.chunk_events * EVENT_DTYPE.itemsize)
        if not raw:
            return None
        k = len(raw) // EVENT_DTYPE.itemsize
        return np.frombuffer(raw[:k * EVENT_DTYPE.itemsize], EVENT_DTYPE).copy()


class ToyWriter(EventWriter):
    format = "toy"

    def __init__(self, path, width=None, height=None):
        super().__init__(path, width, height)
        self._f.write(MAGIC + struct.pack("<HH", width or 0, height or 0))

    def write(self, ev):
        ev = self._check(ev)
        if len(ev):
            self._f.write(ev.tobytes())
            self.n_written += len(ev)
            self._last_t = int(ev["t"][-1])


register_format(FormatSpec("toy", "toy packed events", (".tev",), ToyReader, ToyWriter,
                           sniff=lambda probe: probe.head.startswith(MAGIC), aliases=("toy1",)))
'''

SCRIPT = r'''
import json, shutil
import numpy as np
import toy_format  # the one file: declares and registers "toy"
from spikestream.events.commands import convert
from spikestream.events.filters import FilterChain
from spikestream.events.io import EventFormatError, detect_format, open_reader, open_writer
from spikestream.events.slicing import EventSlicer
from spikestream.testing import NodeHarness

W, H = 40, 30
ev = np.load("ev.npy")  # EVENT_DTYPE, made by the test
with open_writer("rec.tev", width=W, height=H) as w:  # the writer found by the toy's extension
    w.write(ev[:777])
    w.write(ev[777:])
shutil.copy("rec.tev", "rec.bin")  # an extension nobody claims: the header tells


def read_all(path, **kw):
    with open_reader(path, chunk_events=1000, **kw) as r:
        return np.concatenate(list(r)), (r.format, r.width, r.height)


got, meta = read_all("rec.bin")
by_name, _ = read_all("rec.bin", format="TOY1")  # an alias, any case
convert("rec.tev", "rec.raw", progress=False)  # to EVT 3.0 and back through the toy writer
convert("rec.raw", "back.tev", progress=False)
back, _ = read_all("back.tev")

filters = [{"kind": "refractory", "period_us": 500}]
h = NodeHarness("event_camera", {"path": "rec.bin", "speed": "fast", "slice_us": 10_000, "filters": filters,
                                 "chunk_events": 555}, name="cam")
h.run(max_polls=10_000)
chain = FilterChain(filters, W, H)
s = EventSlicer(W, H, 10_000, "both")
s.push(chain(ev))
s.finish()
want = s.pop_all()
slices = h.bodies("out")
node_same = len(slices) == len(want) > 100 and all(
    (a.t0_us, a.t1_us) == (b.t0_us, b.t1_us) and np.array_equal(a.idx, b.idx) and np.array_equal(a.t_us, b.t_us)
    for a, b in zip(slices, want))

open("rec.xyz", "wb").write(b"hello")
try:
    detect_format("rec.xyz")
    unknown = None
except EventFormatError as e:
    unknown = str(e)
print(json.dumps({"detected": [detect_format("rec.tev"), detect_format("rec.bin")], "meta": meta,
                  "same": bool(np.array_equal(got, ev)), "by_name": bool(np.array_equal(by_name, ev)),
                  "round_trip": bool(np.array_equal(back, ev)), "node_same": bool(node_same),
                  "slices": len(slices), "finished": bool(h.node.finished), "unknown": unknown}))
'''


def test_a_format_from_one_file_reads_through_every_public_reader(tmp_path):
    (tmp_path / "toy_format.py").write_text(TOY)
    ev = ref.random_events(np.random.default_rng(5), 20_000, 40, 30, t_max=2_000_000)
    ev["t"] += 5_000
    np.save(tmp_path / "ev.npy", ev)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["detected"] == ["toy", "toy"]
    assert res["meta"] == ["toy", 40, 30]
    assert res["same"] and res["by_name"] and res["round_trip"], res
    assert res["finished"] and res["node_same"], res
    # the error for an extension nobody reads lists what is registered, the toy included
    assert "rec.xyz" in res["unknown"] and "toy (.tev)" in res["unknown"] and "evt3 (.raw)" in res["unknown"]


# ------------------------------------------------------------------------------------------ the lookups


def test_lookups_come_from_the_registered_specs():
    specs = {n: EVENT_FORMATS.get(n) for n in EVENT_FORMATS.names()}
    for name, spec in specs.items():
        assert spec.name == name
        assert all(e.startswith(".") and e == e.lower() for e in spec.extensions), spec
    # every writable extension one format owns (or one writer is declared the default for) picks that writer
    for ext in {e for s in specs.values() for e in s.extensions}:
        writers = [s for s in specs.values() if ext in s.extensions and s.writer is not None]
        if len(writers) == 1:
            assert writer_for_extension(f"out{ext}") == writers[0].name
    assert writer_for_extension("out.RAW") == "evt3"  # evt2, evt21 and evt3 write .raw: evt3 is the default


def test_errors_list_the_registered_formats(tmp_path):
    with pytest.raises(ValueError, match=r"\.xyz.*writable: .*\.aedat4.*\.raw") as e:
        writer_for_extension(tmp_path / "out.xyz")
    with pytest.raises(ValueError, match=r"\.aedat.*writable"):
        open_writer(tmp_path / "out.aedat", width=4, height=4)  # AEDAT 2.0 is read-only
    (tmp_path / "x.raw").write_bytes(b"\x00" * 10)
    with pytest.raises(EventFormatError, match=r"evt2, evt21, evt3.*format="):
        detect_format(tmp_path / "x.raw")
    with pytest.raises(UnknownKind, match=r"unknown event format 'evt9'; known: .*aedat2.*evt3\.0.*npy") as e:
        open_reader(tmp_path / "x.raw", format="evt9")
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)


@pytest.mark.parametrize("alias, name", [("evt2.0", "evt2"), ("EVT2.1", "evt21"), ("raw", "evt3"), ("aedat", "aedat2"),
                                         ("aedat3.1", "aedat3"), ("numpy", "npy")])
def test_aliases_are_declared_by_their_format(tmp_path, alias, name):
    from spikestream.events.io import format_name

    assert format_name(alias) == name
    assert alias.lower() in EVENT_FORMATS.get(name).aliases


def test_a_header_two_formats_claim_is_an_error(tmp_path, monkeypatch):
    """Sniffers must not overlap: a file two formats both claim fails loudly rather than by registration order."""
    from spikestream.events import io

    p = tmp_path / "a.npy"
    np.save(p, np.zeros(3, [("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")]))
    greedy = io.FormatSpec("greedy", "claims everything", (), EVENT_FORMATS.get("npy").reader,
                           sniff=lambda probe: True)
    monkeypatch.setattr(io, "_specs", lambda: [*[EVENT_FORMATS.get(n) for n in EVENT_FORMATS.names()], greedy])
    with pytest.raises(EventFormatError, match="greedy, npy|npy, greedy"):
        detect_format(p)


NODE = """[nodes.cam]
kind = "event_camera"
outputs = {{ out = "tcp://127.0.0.1:auto" }}
params = {{ path = "rec.raw", format = "{fmt}" }}
"""


@pytest.mark.parametrize("fmt, ok", [("evt3", True), ("EVT2.1", True), ("aedat", True), ("evt9", False)])
def test_the_event_camera_format_is_checked_at_load(tmp_path, fmt, ok):
    """`spikestream check` refuses a format name nobody registered, naming the node and the registered ones."""
    from spikestream.runtime.pipeline import PipelineError, load

    p = tmp_path / "p.toml"
    p.write_text(NODE.format(fmt=fmt))
    if ok:
        load(p, resolve_auto=False)
        return
    with pytest.raises(PipelineError) as e:
        load(p, resolve_auto=False)
    assert "node 'cam'" in str(e.value) and "unknown event format 'evt9'; known: " in str(e.value), str(e.value)
    assert "evt21" in str(e.value) and "aedat4" in str(e.value)


@pytest.mark.parametrize("kw, msg", [({"extensions": (".TEV",)}, "extension '.TEV' must be lower-case"),
                                     ({"extensions": ("tev",)}, "start with '.'"),
                                     ({"aliases": ("Toy1",)}, "must be lower-case")])
def test_a_spec_with_lookups_that_cannot_match_is_refused(kw, msg):
    from spikestream.events.io import FormatSpec, register_format

    spec = FormatSpec(**{"name": "toy_bad", "description": "", "extensions": (), "reader": object, **kw})
    with pytest.raises(ValueError, match=msg):
        register_format(spec)
    assert "toy_bad" not in EVENT_FORMATS
