"""The serial source through a pseudo-terminal pair (os.openpty): the test writes the device side."""

import os
import time
import tty

import numpy as np
import pytest
from sources_live_helpers import collect, wait_for

from spikestream.registry import NODES
from spikestream.sources.serial_port import SerialSource, binary_frame
from spikestream.testing import NodeHarness



@pytest.fixture
def pty_pair(tmp_path):
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    link = tmp_path / "ttyTEST"
    link.symlink_to(os.ttyname(slave))
    yield master, slave, link
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass



def test_csv_lines_with_device_time(pty_pair):
    master, _, link = pty_pair
    src = SerialSource(str(link), channels=3, rate_hz=1000, format="csv", timestamps="device")
    try:
        assert wait_for(lambda: src.stats["opens"] == 1, 5)
        x = np.round(np.random.default_rng(0).standard_normal((200, 3)), 4).astype(np.float32)
        t = 5_000 + np.arange(200) * 1000
        t[150:] += 10_000  # ten samples lost on the way
        lines = "".join(f"{ti},{a},{b},{c}\n" for ti, (a, b, c) in zip(t, x))
        lines = lines.replace(f"{t[20]},", "garbage,", 1) + "# a comment\n\n"
        os.write(master, lines.encode())
        t_us, data = collect(src, 199)
        keep = np.arange(200) != 20
        np.testing.assert_array_equal(t_us, t[keep])
        np.testing.assert_allclose(data, x[keep], rtol=0, atol=0)
        # the rejected line is a one-sample gap too
        assert src.stats["rejected_frames"] == 1 and src.stats["gaps"] == 2 and src.stats["missing_samples"] == 11
    finally:
        src.close()


def test_binary_frames_resync_and_time_wrap(pty_pair):
    master, _, link = pty_pair
    src = SerialSource(str(link), channels=2, rate_hz=1000, format="binary")
    try:
        assert wait_for(lambda: src.stats["opens"] == 1, 5)
        t = (2**32 - 3000 + np.arange(8) * 1000) & 0xFFFFFFFF  # wraps after the third frame
        x = np.arange(16, dtype=np.float32).reshape(8, 2)
        frames = [binary_frame(ti, xi) for ti, xi in zip(t, x)]
        corrupt = bytearray(frames[4])
        corrupt[7] ^= 0xFF  # a flipped byte: checksum fails
        stream = b"\x00\x13noise" + b"".join(frames[:4]) + bytes(corrupt) + b"".join(frames[5:])
        for i in range(0, len(stream), 7):  # arrives in pieces
            os.write(master, stream[i:i + 7])
        t_us, data = collect(src, 7)
        want = 2**32 - 3000 + np.arange(8) * 1000
        np.testing.assert_array_equal(t_us, np.delete(want, 4))
        np.testing.assert_array_equal(data, np.delete(x, 4, axis=0))
        assert src.stats["rejected_frames"] >= 1 and src.stats["gaps"] == 1
    finally:
        src.close()


def test_port_disappears_and_comes_back(tmp_path):
    link = tmp_path / "ttyFLAKY"
    m1, s1 = os.openpty()
    link.symlink_to(os.ttyname(s1))
    src = SerialSource(str(link), channels=1, rate_hz=100, format="csv", timestamps="counter", reconnect_s=0.05)
    try:
        assert wait_for(lambda: src.stats["opens"] == 1, 5)
        os.write(m1, b"1.0\n2.0\n")
        collect(src, 2)
        os.close(m1)  # the device is unplugged
        os.close(s1)
        link.unlink()
        assert wait_for(lambda: src.stats["disconnects"] >= 1, 5)
        assert src.read(10).t_us.size == 0
        m2, s2 = os.openpty()  # ... and plugged in again
        tty.setraw(m2)
        link.symlink_to(os.ttyname(s2))
        assert wait_for(lambda: src.stats["opens"] >= 2, 5)
        os.write(m2, b"3.0\n")
        t_us, data = collect(src, 1)
        assert data[0, 0] == 3.0 and t_us[0] == 20_000  # the counter time base continues
        os.close(m2)
        os.close(s2)
    finally:
        src.close()


def test_bad_params():
    with pytest.raises(ValueError, match="counter"):
        SerialSource("/dev/null", channels=2, timestamps="counter")
    with pytest.raises(ValueError, match="format"):
        SerialSource("/dev/null", channels=2, format="xml")
    with pytest.raises(ValueError, match="port"):
        NODES.get("serial_source")("s", {"channels": 2}).setup()


def test_serial_node_forwards_counters(pty_pair):
    master, _, link = pty_pair
    h = NodeHarness("serial_source", {"port": str(link), "channels": 2, "rate_hz": 500}, name="ser")
    node, got = h.node, h.out
    try:
        assert wait_for(lambda: node.src.stats["opens"] == 1, 5)
        before = time.time_ns()
        os.write(master, b"0,1,2\n2000,3,4\nbad line\n4000,5,6\n")

        def polled():
            node.poll(time.time_ns())
            return sum(b.data.shape[0] for _, b, *_ in got) >= 3

        assert wait_for(polled, 5)
        assert np.concatenate([b.data for _, b, *_ in got]).tolist() == [[1, 2], [3, 4], [5, 6]]
        assert got[0].origin_ns >= before and node.counters["rejected_frames"] == 1
    finally:
        node.close()
