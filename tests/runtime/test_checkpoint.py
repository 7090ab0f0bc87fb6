"""Checkpoints (issue 11, item 3): written durably in generations, read defensively, never emptier than
what was restored. The file-level checks use real files; the guard runs a real NodeRunner in-process."""

import io
import os
import zipfile

import numpy as np
import pytest

from spikestream.runtime import Node, checkpoint, register_node
from spikestream.runtime.loop import NodeRunner
from spikestream.runtime.pipeline import NodeSpec


def test_write_keeps_generations_newest_first(tmp_path):
    p = str(tmp_path / "s.npz")
    for k in range(5):
        checkpoint.write(p, {"k": np.array(k)}, keep=3)
    gens = checkpoint.generations(p, 3)
    assert [int(checkpoint.read(g)["k"]) for g in gens] == [4, 3, 2]
    assert sorted(os.listdir(tmp_path)) == ["s.npz", "s.npz.1", "s.npz.2"]  # no temporary left behind


def test_write_fsyncs_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.path.isdir(f"/proc/self/fd/{fd}")), real(fd)))
    checkpoint.write(str(tmp_path / "s.npz"), {"k": np.array(1)})
    assert synced == [False, True]  # the file before the rename, its folder after


def test_a_failed_write_leaves_the_checkpoints_as_they_were(tmp_path, monkeypatch):
    p = str(tmp_path / "s.npz")
    checkpoint.write(p, {"k": np.array(7)})

    def boom(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.write(p, {"k": np.array(8)})
    assert int(checkpoint.read(p)["k"]) == 7 and os.listdir(tmp_path) == ["s.npz"]


def _npz(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy(a, allow_pickle=False):
    b = io.BytesIO()
    np.lib.format.write_array(b, a, allow_pickle=allow_pickle)
    return b.getvalue()


def test_truncated_garbage_and_foreign_files_are_refused(tmp_path):
    good = str(tmp_path / "good.npz")
    checkpoint.write(good, {"w": np.arange(1000.0)})
    data = open(good, "rb").read()
    cases = {"truncated": data[: len(data) // 2], "garbage": os.urandom(2000), "empty": b""}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    _npz(tmp_path / "pickled", {"w.npy": _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)})
    _npz(tmp_path / "foreign", {"w.npy": _npy(np.zeros(3)), "run.sh": b"#!/bin/sh\n"})
    head = _npy(np.zeros(10))  # header says 10 floats, the member holds 3
    _npz(tmp_path / "short", {"w.npy": head[: len(head) - 56]})
    for name in [*cases, "pickled", "foreign", "short"]:
        with pytest.raises(checkpoint.StateFileError):
            checkpoint.read(str(tmp_path / name))


def test_a_zip_bomb_is_refused_before_anything_is_inflated(tmp_path):
    """A ~4.6 MB zip declaring 1 GiB of zeros (deflate tops out near 1000:1) is refused on its declared
    size; one that lies about its size (small member, 1 GiB in its .npy header) on the header."""
    n = 1 << 30
    hdr = io.BytesIO()
    np.lib.format.write_array_header_2_0(hdr, {"descr": "<f8", "fortran_order": False, "shape": (n // 8,)})
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("w.npy", "w", force_zip64=True) as f:
            f.write(hdr.getvalue())
            zeros = bytes(1 << 20)
            for _ in range(n >> 20):
                f.write(zeros)
    assert bomb.stat().st_size < 8 << 20
    with pytest.raises(checkpoint.StateFileError, match="declares 1073741.* bytes uncompressed"):
        checkpoint.read(str(bomb))
    liar = tmp_path / "liar.npz"
    _npz(liar, {"w.npy": hdr.getvalue() + bytes(64)})
    with pytest.raises(checkpoint.StateFileError, match="header declares 1073741824 bytes"):
        checkpoint.read(str(liar))
    ok = tmp_path / "ok.npz"
    checkpoint.write(str(ok), {"w": np.zeros(1000)})
    with pytest.raises(checkpoint.StateFileError, match="state_max_bytes"):
        checkpoint.read(str(ok), max_bytes=4000)


# --------------------------------------------------------------------- the guard, in a real NodeRunner

@register_node("test_lazy_state")
class LazyState(Node):
    """Like the SNN node: a restored state waits, unreported, until the first message rebuilds the node."""

    outputs = {"out": "samples"}

    def setup(self):
        self.pending, self.state = None, {}

    def set_state(self, state):
        self.pending = dict(state)

    def get_state(self):
        return dict(self.state)  # {} until a message arrives (none does here)


@register_node("test_partial_state")
class PartialState(LazyState):
    def get_state(self):
        return {"b": np.array(2.0)}  # fewer arrays than the restored state had


@pytest.mark.parametrize("kind", ["test_lazy_state", "test_partial_state"])
def test_a_checkpoint_is_never_emptier_than_the_restored_state(tmp_path, kind):
    p = str(tmp_path / "s.npz")
    learned = {"a": np.arange(5.0), "b": np.array(2.0)}
    checkpoint.write(p, learned)
    spec = NodeSpec("n", kind, outputs={"out": f"ipc://{tmp_path}/out"}, state=p, checkpoint_s=0.02, start_wait_s=0,
                    linger_ms=0)
    runner = NodeRunner(spec)
    assert runner.run(duration_s=0.3) == 0
    got = checkpoint.read(p)
    assert set(got) == {"a", "b"} and np.array_equal(got["a"], learned["a"])  # still the learned state
    assert not os.path.exists(p + ".1")  # and not pushed out of the generations either
    s = runner.snapshot()
    assert s["checkpoints_skipped"] >= 3 and s["checkpoints"] == 0  # every checkpoint_s tick and the stop


WRITER = """
import sys, numpy as np
from spikestream.runtime import checkpoint
path, k = sys.argv[1], int(sys.argv[2])  # counting on from the newest checkpoint on disk
print("ready", flush=True)
while True:
    k += 1
    checkpoint.write(path, {"k": np.array(k), "w": np.full(200_000, float(k))})
"""


@pytest.mark.slow  # ~20 s on a loaded 2-core machine
def test_kill_9_while_writing_never_leaves_a_bad_checkpoint(tmp_path):
    """A writer process killed at random moments (20 times): every generation on disk stays readable and
    whole, and the newest never goes back."""
    import random
    import subprocess
    import sys
    import time

    p = str(tmp_path / "s.npz")
    rng = random.Random(11)
    newest = 0
    for _ in range(20):
        w = subprocess.Popen([sys.executable, "-c", WRITER, p, str(newest)], stdout=subprocess.PIPE, text=True)
        assert w.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.1))
        w.kill()
        w.wait()
        w.stdout.close()
        ks = []
        for g in checkpoint.generations(p, 3):
            if os.path.exists(g):
                s = checkpoint.read(g)  # raises on a torn file
                assert (s["w"] == float(s["k"])).all()
                ks.append(int(s["k"]))
        assert ks == sorted(ks, reverse=True)
        assert ks[0] >= newest if ks else newest == 0  # killed before its first write: nothing yet
        newest = ks[0] if ks else 0
    assert newest > 0
