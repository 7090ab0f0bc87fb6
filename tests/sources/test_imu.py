import numpy as np
import pytest

from spikestream.sources.imu import IMUSynth, world_to_body
from spikestream.testing import NodeHarness


def test_imu_chunk_invariant_and_deterministic():
    whole = IMUSynth(seed=4).read(3000)
    src = IMUSynth(seed=4)
    rng = np.random.default_rng(0)
    parts, got = [], 0
    while got < 3000:
        n = min(int(rng.integers(1, 400)), 3000 - got)
        parts.append(src.read(n))
        got += n
    for f in ("t_us", "data", "quat", "omega", "euler"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, f) for p in parts]), getattr(whole, f))


def test_imu_measurements_agree_with_truth():
    s = IMUSynth(rate_hz=200, seed=1, lin_g=0.0, accel_noise_g=0.0, gyro_noise_dps=0.0)
    c = s.read(4000)
    # gravity seen in the body frame; roll/pitch from the accelerometer match the true attitude
    r, p = c.euler[:, 0], c.euler[:, 1]
    np.testing.assert_allclose(c.data[:, 0], -np.sin(p), atol=1e-5)
    np.testing.assert_allclose(c.data[:, 1], np.sin(r) * np.cos(p), atol=1e-5)
    # gyro = true rate + constant bias; integrating the true rate reproduces the orientation change
    np.testing.assert_allclose(c.data[:, 3:] - c.omega, np.broadcast_to(s.bias, (4000, 3)), atol=1e-4)
    assert np.allclose(np.linalg.norm(c.quat, axis=1), 1)
    assert 20 < c.omega.std() < 150


def test_world_to_body_identity_and_rotation():
    q = np.array([[1.0, 0, 0, 0], [np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0]])  # 90 deg about x
    v = np.array([[0, 0, 1.0], [0, 0, 1.0]])
    np.testing.assert_allclose(world_to_body(q, v), [[0, 0, 1], [0, 1, 0]], atol=1e-12)


def test_imu_node_outputs_target():
    h = NodeHarness("imu_synth", {"rate_hz": 100, "chunk": 5}, name="imu")
    n, out = h.node, h.out
    n.poll(0)
    n.poll(99_000_000)
    ports = [e.port for e in out]
    assert ports.count("samples") == 2 and ports.count("target") == 2
    assert out[0][1].data.shape == (5, 6) and out[1][1].channels == ["roll", "pitch", "yaw"]


def test_imu_bad_params():
    with pytest.raises(ValueError, match="motion_hz"):
        IMUSynth(rate_hz=10, motion_hz=6)
