"""A node's start with unusable checkpoints (issue 11, item 3): it falls back to the newest valid
generation, or starts fresh with one loud line, never exit 78 and a crash loop (unless told to fail).
Real node processes (a ramp source, whose state is its sample counter k) and real files."""

import subprocess
import sys

import numpy as np
import pytest
import zmq
from runtime_helpers import command, ep, node_table, wait_for, write_pipeline

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime import checkpoint

RATE = 200


def start(tmp_path, extra=""):
    e = dict(out=ep(), ctl=ep())
    p = write_pipeline(tmp_path, node_table("src", "ramp_source", outputs={"out": e["out"]}, control=e["ctl"],
                                            params=f"rate_hz = {RATE}",
                                            extra=f'state = "{tmp_path / "src.npz"}"\n{extra}'), name="src.toml")
    proc = subprocess.Popen([sys.executable, "-m", "spikestream", "node", str(p), "src"], stderr=subprocess.PIPE, text=True)
    return proc, e


def first_sample_time(e):
    down = transport.sub(zmq.Context.instance(), [e["out"]])
    try:
        frame = wait_for(lambda: down.poll(50) and down.recv(), what="a sample")
        return P.unpack(frame).t_us
    finally:
        down.close(0)


def stop(proc):
    proc.terminate()
    try:
        return proc.communicate(timeout=10)[1]
    finally:
        proc.kill()


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    state = str(tmp_path / "src.npz")
    checkpoint.write(state, {"k": np.array(1000)})
    checkpoint.write(state, {"k": np.array(2000)})
    (tmp_path / "src.npz").write_bytes(b"PK\x03\x04 torn by a crash")  # the newest, now corrupt
    proc, e = start(tmp_path)
    try:
        assert first_sample_time(e) >= 1000 * 1e6 / RATE  # went on from the previous checkpoint's k
        s = command(e["ctl"], "stats").result["runtime"]
        assert s["state_rejected"] == 1
    finally:
        err = stop(proc)
    assert "not usable" in err and "restored state from" in err and f"{state}.1" in err


def test_no_usable_checkpoint_starts_fresh_with_one_loud_line(tmp_path):
    state = str(tmp_path / "src.npz")
    (tmp_path / "src.npz").write_bytes(b"garbage")
    checkpoint.write(state + ".1", {"other": np.zeros(3)}, keep=1)  # valid file, not this node's state
    proc, e = start(tmp_path)
    try:
        wait_for(lambda: command(e["ctl"], "ping"), what="the node serving")
        assert first_sample_time(e) < 10 * 1e6  # counting from 0 again: fresh
        assert proc.poll() is None
        assert command(e["ctl"], "stats").result["runtime"]["state_rejected"] == 2
    finally:
        err = stop(proc)
    assert sum(" E " in line and "STARTING WITH FRESH STATE" in line for line in err.splitlines()) == 1


def test_state_fallback_fail_refuses_to_start(tmp_path):
    (tmp_path / "src.npz").write_bytes(b"garbage")
    proc, e = start(tmp_path, 'state_fallback = "fail"')
    try:
        assert proc.wait(timeout=30) == 78
    finally:
        err = stop(proc)
    assert "no usable checkpoint" in err


@pytest.mark.parametrize("key,value", [("state_keep", 0), ("state_fallback", '"maybe"')])
def test_bad_state_settings_name_the_key(tmp_path, key, value):
    proc, e = start(tmp_path, f"{key} = {value}")
    try:
        assert proc.wait(timeout=30) != 0
    finally:
        err = stop(proc)
    assert key in err
