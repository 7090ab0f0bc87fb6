"""Synthetic 6-axis IMU (accelerometer in g, gyroscope in deg/s) with its true orientation.

The body turns with a smooth random angular velocity ``w`` (white noise through two one-pole low-passes
at ``motion_hz``, scaled to about ``rate_dps`` RMS per axis); the orientation quaternion integrates it
exactly per sample (``q <- q * exp(w dt / 2)``). A small smooth linear acceleration ``a_lin`` (``lin_g`` RMS,
world frame) is added to gravity. Measured: ``accel = R(q)^T (g_world + a_lin) + noise`` with ``g_world =
(0, 0, 1)`` g, and ``gyro = w + bias + noise`` (a fixed per-seed bias). Truth per row: the quaternion
(w, x, y, z), the true angular velocity, and roll/pitch/yaw in radians. Block-generated like `EMGSynth`,
so reads of any size give the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream.registry import SOURCES
from spikestream.sources.synthetic import BlockSynth, _lfilter_one_pole, _one_pole


@dataclass(frozen=True, slots=True)
class IMUChunk:
    t_us: np.ndarray  # int64 [n]
    data: np.ndarray  # float32 [n, 6]: ax ay az (g), gx gy gz (deg/s)
    quat: np.ndarray  # float64 [n, 4]: w x y z, body -> world
    omega: np.ndarray  # float32 [n, 3]: true angular velocity (deg/s, body frame)
    euler: np.ndarray  # float32 [n, 3]: roll, pitch, yaw (rad)

    def __iter__(self):
        return iter((self.t_us, self.data))

    def __len__(self) -> int:
        return 2


@njit(cache=True)
def _integrate_quat(q0, omega_rad, dt, out):
    """``out[i]`` = orientation after sample i; ``q0`` (updated) is the orientation before the block."""
    w, x, y, z = q0[0], q0[1], q0[2], q0[3]
    for i in range(omega_rad.shape[0]):
        ox, oy, oz = omega_rad[i, 0] * dt, omega_rad[i, 1] * dt, omega_rad[i, 2] * dt
        ang = np.sqrt(ox * ox + oy * oy + oz * oz)
        if ang > 1e-15:
            s = np.sin(ang / 2) / ang
            dw, dx, dy, dz = np.cos(ang / 2), ox * s, oy * s, oz * s
        else:
            dw, dx, dy, dz = 1.0, ox / 2, oy / 2, oz / 2
        w, x, y, z = (w * dw - x * dx - y * dy - z * dz, w * dx + x * dw + y * dz - z * dy,
                      w * dy - x * dz + y * dw + z * dx, w * dz + x * dy - y * dx + z * dw)
        nrm = np.sqrt(w * w + x * x + y * y + z * z)
        w, x, y, z = w / nrm, x / nrm, y / nrm, z / nrm
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = w, x, y, z
    q0[0], q0[1], q0[2], q0[3] = w, x, y, z


def world_to_body(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate world-frame vectors ``v[n, 3]`` into the body frame of ``q[n, 4]`` (R(q)^T v)."""
    w, x, y, z = q.T
    r = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)  # body -> world
    return np.einsum("nji,nj->ni", r, v)


def quat_to_euler(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q.T
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1, 1))
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.stack([roll, pitch, yaw], -1)


@SOURCES.register("imu_synth")
class IMUSynth(BlockSynth):
    chunk_type = IMUChunk

    def __init__(self, rate_hz: float = 200.0, seed: int = 0, motion_hz: float = 0.5, rate_dps: float = 60.0,
                 lin_g: float = 0.05, accel_noise_g: float = 0.01, gyro_noise_dps: float = 0.3,
                 gyro_bias_dps: float = 1.0, block: int = 512):
        if not (np.isfinite(rate_hz) and 0 < rate_hz <= 1e6):
            raise ValueError(f"imu synth: rate_hz must be in (0, 1e6], got {rate_hz}")
        if not 0 < motion_hz < rate_hz / 2:
            raise ValueError(f"imu synth: motion_hz must lie in (0, Nyquist), got {motion_hz}")
        if min(rate_dps, lin_g, accel_noise_g, gyro_noise_dps, gyro_bias_dps) < 0 or int(seed) < 0 or int(block) < 1:
            raise ValueError("imu synth: amplitudes and noise levels must be >= 0, seed >= 0, block >= 1")
        super().__init__(rate_hz, block)
        self.seed, self.rate_dps, self.lin_g = int(seed), float(rate_dps), float(lin_g)
        self.accel_noise, self.gyro_noise = float(accel_noise_g), float(gyro_noise_dps)
        self.n_channels = 6
        self.channels = ["ax", "ay", "az", "gx", "gy", "gz"]
        self.truth_names = ["roll", "pitch", "yaw"]
        self.bias = np.random.default_rng([self.seed, 0xB1A5]).normal(0, gyro_bias_dps, 3)
        self._lp = _one_pole(motion_hz, rate_hz)
        a = np.exp(-2 * np.pi * motion_hz / rate_hz)
        self._gain = 1.0 / np.sqrt((1 - a) * (1 + a * a) / (1 + a) ** 3)
        self.reset()

    def _reset_generator(self) -> None:
        self._zi = np.zeros((4, 1, 6))  # two cascaded one-poles for omega (3) and a_lin (3)
        self._q = np.array([1.0, 0.0, 0.0, 0.0])

    def _make_block(self, block_no: int, n: int) -> tuple:
        if n == 0:
            return (np.empty(0, np.int64), np.empty((0, 6), np.float32), np.empty((0, 4)),
                    np.empty((0, 3), np.float32), np.empty((0, 3), np.float32))
        rng = np.random.default_rng([self.seed, 2, block_no])
        u = rng.standard_normal((n, 6))
        u = _lfilter_one_pole(self._lp, u, self._zi[0])  # scipy.signal.lfilter's recursion, state in place
        u = _lfilter_one_pole(self._lp, u, self._zi[1])
        u *= self._gain
        omega = u[:, :3] * self.rate_dps
        a_lin = u[:, 3:] * self.lin_g
        quat = np.empty((n, 4))
        _integrate_quat(self._q, np.deg2rad(omega), 1.0 / self.rate_hz, quat)
        g = np.zeros((n, 3))
        g[:, 2] = 1.0
        acc = world_to_body(quat, g + a_lin) + rng.normal(0, self.accel_noise, (n, 3))
        gyro = omega + self.bias + rng.normal(0, self.gyro_noise, (n, 3))
        t = self.time_us(np.arange(block_no * self._block, block_no * self._block + n))
        data = np.hstack([acc, gyro]).astype(np.float32)
        return t, data, quat, omega.astype(np.float32), quat_to_euler(quat).astype(np.float32)
