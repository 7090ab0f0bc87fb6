"""Frame -> event emulation in the manner of v2e (Hu, Liu & Delbruck, CVPR-W 2021), streaming and jitted.

Per pixel: log intensity ``L = lin_log(I)`` (linear below ``lin_log_cutoff`` so dark pixels do not explode),
an optional photoreceptor low-pass ``lp += eps * (L - lp)`` with ``eps = min(1, dt / tau * (I + 20) / 275)``,
``tau = 1 / (2 pi cutoff_hz)`` (v2e's intensity-dependent bandwidth), and a reference level ``base``. With
``d = lp - base``, the pixel emits ``floor(d / theta_on)`` ON events (or ``floor(-d / theta_off)`` OFF events)
and moves ``base`` by that many thresholds. The k-th event is stamped where the straight line from the
previous frame's ``d`` to this one crosses ``k * theta`` (so times lie in ``(t_prev, t]``, per pixel).
Per-pixel thresholds are drawn once, ``N(theta, sigma_thres)`` clipped at ``min_thres``. Noise: leak events
(``base`` drifts down by ``leak_rate_hz * theta_on`` per second, per-pixel rates jittered by 10 %) and shot
noise (per pixel and frame an event with probability ``shot_noise_rate_hz * dt``, random polarity; it leaves
``base`` alone: a noise transient that came back, else it would drag a compensating event after it).
A refractory period drops events closer than ``refractory_us`` to the pixel's previous event (``base``
still moves, as in v2e). Randomness is a counter-based hash of (seed, frame number,
pixel), so the output is deterministic per seed and identical for any chunking of the frames.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numba import njit

from spikestream.events.blockio import ClosesOnExit
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.state import restore_arrays


# ------------------------------------------------------------------------------------------------ kernels


@njit(cache=True)
def _mix(z):
    """splitmix64 finaliser on a uint64."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _uniform(seed, frame, pixel, stream):
    """A uniform in [0, 1) from (seed, frame, pixel, stream), stateless."""
    z = _mix(np.uint64(seed) ^ _mix(np.uint64(frame) * np.uint64(4) + np.uint64(stream)))
    z = _mix(z ^ np.uint64(pixel))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _lin_log(intensity, cutoff, out):
    f = math.log(cutoff) / cutoff
    for i in range(intensity.size):
        v = np.float64(intensity[i])
        out[i] = v * f if v <= cutoff else math.log(v)


@njit(cache=True)
def _count(log_new, intensity, lp, base, d0, leak, pos_th, neg_th, dt_s, dt_over_tau, shot_p, seed, frame,
           n_on, n_off, shot):
    """Advance every pixel by one frame interval; count its events. Returns the total count."""
    total = 0
    for i in range(log_new.size):
        d0[i] = lp[i] - base[i]
        base[i] -= leak[i] * pos_th[i] * dt_s
        if dt_over_tau > 0.0:
            eps = dt_over_tau * (np.float64(intensity[i]) + 20.0) / 275.0
            if eps > 1.0:
                eps = 1.0
            lp[i] += eps * (log_new[i] - lp[i])
        else:
            lp[i] = log_new[i]
        d = lp[i] - base[i]
        a = 0
        b = 0
        if d >= pos_th[i]:
            a = np.int64(math.floor(d / pos_th[i]))
        elif -d >= neg_th[i]:
            b = np.int64(math.floor(-d / neg_th[i]))
        n_on[i] = a
        n_off[i] = b
        s = 0
        if shot_p > 0.0 and _uniform(seed, frame, i, 0) < shot_p:
            s = 1 if _uniform(seed, frame, i, 1) < 0.5 else 2
        shot[i] = s
        total += a + b + (1 if s else 0)
    return total


@njit(cache=True)
def _emit(lp, base, d0, last, pos_th, neg_th, n_on, n_off, shot, width, t_prev, t_cur, refractory_us, seed, frame,
          x_out, y_out, t_out, p_out):
    """Write the counted events (per pixel in time order), move the reference levels. Returns how many."""
    dt = t_cur - t_prev
    k = 0
    for i in range(lp.size):
        n = n_on[i] + n_off[i]
        if n > 0:
            on = n_on[i] > 0
            th = pos_th[i] if on else neg_th[i]
            sgn = 1.0 if on else -1.0
            d1 = lp[i] - base[i]
            a0 = sgn * d0[i]
            span = sgn * d1 - a0
            for j in range(1, n + 1):
                f = (j * th - a0) / span if span > 0.0 else 1.0
                k = _put(i, min(max(f, 0.0), 1.0), on, t_prev, dt, refractory_us, width, last, x_out, y_out, t_out,
                         p_out, k)
            base[i] += sgn * n * th
        if shot[i]:
            k = _put(i, _uniform(seed, frame, i, 2), shot[i] == 1, t_prev, dt, refractory_us, width, last, x_out,
                     y_out, t_out, p_out, k)
    return k


@njit(cache=True, inline="always")
def _put(i, f, on, t_prev, dt, refractory_us, width, last, x_out, y_out, t_out, p_out, k):
    """Event number k: pixel i at the fraction `f` of the frame interval (at least 1 us into it), unless it
    falls in the pixel's refractory period. Returns the count after it."""
    te = t_prev + min(max(np.int64(math.ceil(f * dt)), 1), dt)
    if te - last[i] < refractory_us:
        return k
    x_out[k] = i % width
    y_out[k] = i // width
    t_out[k] = te
    p_out[k] = 1 if on else 0
    last[i] = te
    return k + 1


# ------------------------------------------------------------------------------------------- the stage


@dataclass(frozen=True)
class EmulatorParams:
    pos_thres: float = 0.2  # nominal ON threshold, log units
    neg_thres: float = 0.2  # nominal OFF threshold
    sigma_thres: float = 0.03  # per-pixel threshold spread (std dev)
    min_thres: float = 0.01  # thresholds are clipped below at this
    cutoff_hz: float = 0.0  # photoreceptor bandwidth at full intensity; 0 = no low-pass
    leak_rate_hz: float = 0.0  # leak events per pixel per second
    shot_noise_rate_hz: float = 0.0  # shot-noise events per pixel per second
    refractory_us: int = 0
    lin_log_cutoff: float = 20.0  # below this intensity the response is linear (intensities on a 0-255 scale)
    seed: int = 0

    def __post_init__(self):
        for f in ("pos_thres", "neg_thres", "min_thres", "lin_log_cutoff"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0 or not math.isfinite(v):
                raise ValueError(f"emulator: {f} must be a positive number, got {v!r}")
        for f in ("sigma_thres", "cutoff_hz", "leak_rate_hz", "shot_noise_rate_hz"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0 or not math.isfinite(v):
                raise ValueError(f"emulator: {f} must be a number >= 0, got {v!r}")
        for f in ("refractory_us", "seed"):
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"emulator: {f} must be an integer >= 0, got {v!r}")

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> "EmulatorParams":
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"emulator: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(names)}")
        return cls(**params)


class FrameEmulator:
    """Feed frames ``[n, H, W]`` (intensity, 0-255 scale) with times ``t_us [n]``; get `EVENT_DTYPE` events
    sorted by time. The first frame ever only sets the reference levels."""

    def __init__(self, width: int, height: int, params: EmulatorParams | None = None, **kw: Any):
        if params is None:
            params = EmulatorParams.from_dict(kw)
        elif kw:
            raise ValueError("emulator: pass either params or keyword parameters")
        for name, v in (("width", width), ("height", height)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 65535:
                raise ValueError(f"emulator: {name} must be an integer in 1..65535, got {v!r}")
        self.width, self.height, self.params = int(width), int(height), params
        n = self.width * self.height
        rng = np.random.default_rng(params.seed)
        p = params
        self._pos = np.maximum(p.pos_thres + p.sigma_thres * rng.standard_normal(n), p.min_thres)
        self._neg = np.maximum(p.neg_thres + p.sigma_thres * rng.standard_normal(n), p.min_thres)
        self._leak = p.leak_rate_hz * np.maximum(1.0 + 0.1 * rng.standard_normal(n), 0.0)
        self._desync = rng.random(n)  # where in its leak cycle each pixel starts
        self._base = np.zeros(n)
        self._lp = np.zeros(n)
        self._last = np.full(n, -(1 << 62), np.int64)
        self._clock = np.array([0, 0, 0], np.int64)  # [started, time of the last frame, frames seen]
        self._scratch = {k: np.zeros(n, dt) for k, dt in (("log", np.float64), ("d0", np.float64),
                                                          ("on", np.int64), ("off", np.int64), ("shot", np.int8))}

    def feed(self, frames: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        t_us = np.asarray(t_us)
        if frames.ndim == 2:
            frames, t_us = frames[None], t_us.reshape(1)
        if frames.ndim == 4 and frames.shape[-1] in (3, 4):
            frames = to_gray(frames)
        if frames.ndim != 3 or frames.shape[1:] != (self.height, self.width):
            raise ValueError(f"emulator: frames of shape {frames.shape} where (n, {self.height}, {self.width}) is needed")
        if t_us.shape != (frames.shape[0],) or not np.issubdtype(t_us.dtype, np.integer):
            raise ValueError("emulator: t_us must be one integer time per frame")
        out = []
        for frame, t in zip(frames, t_us.astype(np.int64)):
            ev = self._step(frame, int(t))
            if ev.size:
                out.append(ev)
        return np.concatenate(out) if out else np.zeros(0, EVENT_DTYPE)

    def _step(self, frame: np.ndarray, t: int) -> np.ndarray:
        inten = np.ascontiguousarray(frame, np.float32).ravel()
        if not np.all(np.isfinite(inten)) or inten.min() < 0:
            raise ValueError("emulator: a frame holds negative, NaN or inf intensities")
        s, p, c = self._scratch, self.params, self._clock
        _lin_log(inten, float(p.lin_log_cutoff), s["log"])
        if not c[0]:
            self._lp[:] = s["log"]
            self._base[:] = s["log"] - self._desync * self._pos * (self._leak > 0)
            c[:] = (1, t, 1)
            return np.zeros(0, EVENT_DTYPE)
        t_prev = int(c[1])
        if t <= t_prev:
            raise ValueError(f"emulator: frame time {t} is not after the previous frame's {t_prev}")
        dt_s = (t - t_prev) * 1e-6
        dt_over_tau = dt_s * 2 * math.pi * p.cutoff_hz
        frame_no = int(c[2])
        total = _count(s["log"], inten, self._lp, self._base, s["d0"], self._leak, self._pos, self._neg, dt_s,
                       dt_over_tau, min(p.shot_noise_rate_hz * dt_s, 1.0), p.seed, frame_no, s["on"], s["off"],
                       s["shot"])
        x = np.empty(total, np.uint16)
        y = np.empty(total, np.uint16)
        tt = np.empty(total, np.int64)
        pp = np.empty(total, np.uint8)
        k = _emit(self._lp, self._base, s["d0"], self._last, self._pos, self._neg, s["on"], s["off"], s["shot"],
                  self.width, t_prev, t, p.refractory_us, p.seed, frame_no, x, y, tt, pp)
        c[1], c[2] = t, frame_no + 1
        order = np.argsort(tt[:k], kind="stable")
        ev = np.empty(k, EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = x[order], y[order], tt[order], pp[order]
        return ev

    def _live_state(self) -> dict[str, np.ndarray]:
        return {"base": self._base, "lp": self._lp, "last": self._last, "clock": self._clock,
                "pos_thres": self._pos, "neg_thres": self._neg, "leak": self._leak}

    def get_state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._live_state().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        restore_arrays("emulator", self._live_state(), state)


def to_gray(frames: np.ndarray) -> np.ndarray:
    """RGB(A) ``[..., 3|4]`` -> luma (ITU-R BT.601 weights), float32."""
    f = np.asarray(frames, np.float32)
    return f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114


# ------------------------------------------------------------------------------------------ frame sources


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")


class FrameReader(ClosesOnExit):
    """Frames from an ``.npy`` stack ``[n, H, W]`` / ``[n, H, W, 3]`` (memory-mapped, so any size) or a
    directory of images (sorted by name; needs Pillow). ``read(max_frames) -> float32 [k, H, W]``, empty at
    the end. Frame i is at ``t0_us + round(i * 1e6 / frame_rate_hz)``."""

    def __init__(self, path: str | os.PathLike, frame_rate_hz: float = 30.0, t0_us: int = 0):
        if not (isinstance(frame_rate_hz, (int, float)) and frame_rate_hz > 0 and math.isfinite(frame_rate_hz)):
            raise ValueError(f"frames: frame_rate_hz must be a positive number, got {frame_rate_hz!r}")
        self.path, self.frame_rate_hz, self.t0_us = os.fspath(path), float(frame_rate_hz), int(t0_us)
        self._pos = 0
        if os.path.isdir(self.path):
            self._files = sorted(os.path.join(self.path, f) for f in os.listdir(self.path)
                                 if f.lower().endswith(IMAGE_EXTENSIONS))
            if not self._files:
                raise ValueError(f"frames: no images ({', '.join(IMAGE_EXTENSIONS)}) in {self.path}")
            self._stack = None
            first = self._load_image(self._files[0])
            self.height, self.width = first.shape
            self.n_frames = len(self._files)
        elif os.path.isfile(self.path):
            try:
                self._stack = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except Exception as e:
                raise ValueError(f"frames: {self.path} is not a readable .npy array ({e})") from None
            s = self._stack
            if not (s.ndim == 3 or (s.ndim == 4 and s.shape[-1] in (3, 4))) or s.dtype.kind not in "uif":
                raise ValueError(f"frames: {self.path} holds a {s.dtype} array of shape {s.shape}; "
                                 "need numbers shaped (n, H, W) or (n, H, W, 3)")
            self.n_frames, self.height, self.width = s.shape[:3]
        else:
            raise FileNotFoundError(f"no such frame file or directory: {self.path}")

    def _load_image(self, path: str) -> np.ndarray:
        try:
            from PIL import Image
        except ImportError:
            raise ValueError("frames: reading an image directory needs Pillow (pip install pillow)") from None
        try:
            with Image.open(path) as im:
                a = np.asarray(im.convert("L"), np.float32)
        except Exception as e:
            raise ValueError(f"frames: cannot read image {path}: {e}") from None
        return a

    def times(self, start: int, n: int) -> np.ndarray:
        i = np.arange(start, start + n, dtype=np.float64)
        return self.t0_us + np.round(i * 1e6 / self.frame_rate_hz).astype(np.int64)

    def read(self, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """(frames float32 [k, H, W], t_us int64 [k])."""
        k = max(0, min(int(max_frames), self.n_frames - self._pos))
        a = self._pos
        if self._stack is not None:
            f = np.asarray(self._stack[a:a + k], np.float32)
            if f.ndim == 4:
                f = to_gray(f)
            if not np.all(np.isfinite(f)):
                raise ValueError(f"frames: {self.path} holds NaN or inf in frames {a}..{a + k - 1}")
        else:
            imgs = [self._load_image(p) for p in self._files[a:a + k]]
            for p, im in zip(self._files[a:a + k], imgs):
                if im.shape != (self.height, self.width):
                    raise ValueError(f"frames: {p} is {im.shape[1]}x{im.shape[0]}, not {self.width}x{self.height}")
            f = np.stack(imgs) if imgs else np.zeros((0, self.height, self.width), np.float32)
        self._pos += k
        return f, self.times(a, k)

    def close(self) -> None:
        self._stack = None


def emulate_to_file(frames_path: str | os.PathLike, out_path: str | os.PathLike, frame_rate_hz: float = 30.0,
                    format: str | None = None, frames_per_read: int = 16, progress=None, **params: Any) -> int:
    """Frames file/directory -> event file (format from `out_path`'s extension unless given), in bounded
    memory. ``progress(frames_done, frames_total)`` is called after each batch. Returns the event count.
    For a CLI such as ``spikestream events emulate FRAMES OUT --fps 30 --pos-thres 0.2``."""
    from spikestream.events.io import open_writer

    if isinstance(frames_per_read, bool) or not isinstance(frames_per_read, int) or frames_per_read < 1:
        raise ValueError(f"frames_per_read must be an integer >= 1, got {frames_per_read!r}")
    n = 0
    with FrameReader(frames_path, frame_rate_hz) as src:
        emu = FrameEmulator(src.width, src.height, EmulatorParams.from_dict(params))
        with open_writer(out_path, format=format, width=src.width, height=src.height) as w:
            done = 0
            while True:
                frames, t = src.read(frames_per_read)
                if frames.shape[0] == 0:
                    break
                ev = emu.feed(frames, t)
                if ev.size:
                    w.write(ev)
                    n += ev.size
                done += frames.shape[0]
                if progress is not None:
                    progress(done, src.n_frames)
    return n
