"""Frame-to-event emulator: step responses, interpolated times, noise rates, chunk invariance, determinism."""

import math

import numpy as np
import pytest

import events_reference as ref
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.emulator import EmulatorParams, FrameEmulator, FrameReader

W, H = 8, 6
CLEAN = dict(sigma_thres=0.0)


def _step_frames(i0, i1, x=3, y=2, n=2):
    f = np.full((n, H, W), 100.0, np.float32)
    f[0, y, x] = i0
    f[1:, y, x] = i1
    return f, np.arange(n, dtype=np.int64) * 10_000


@pytest.mark.parametrize("i0,i1,theta", [(50.0, 200.0, 0.2), (30.0, 31.0, 0.02), (40.0, 250.0, 0.15)])
def test_brightening_step_gives_floor_delta_log_over_theta_on_events(i0, i1, theta):
    emu = FrameEmulator(W, H, pos_thres=theta, neg_thres=theta, **CLEAN)
    ev = emu.feed(*_step_frames(i0, i1))
    n = ref.step_on_events(i0, i1, theta)
    assert n >= 1
    assert ev.size == n
    assert np.all(ev["p"] == 1) and np.all(ev["x"] == 3) and np.all(ev["y"] == 2)
    # times interpolated inside (t_prev, t]: the k-th crossing at k*theta / delta of the interval
    d = math.log(i1) - math.log(i0)
    want = [math.ceil(k * theta / d * 10_000 - 1e-9) for k in range(1, n + 1)]
    assert np.all(np.abs(ev["t"] - want) <= 1) and np.all(np.diff(ev["t"]) > 0)
    assert ev["t"].min() > 0 and ev["t"].max() <= 10_000


def test_darkening_step_gives_off_events_and_reference_moves_by_thresholds():
    emu = FrameEmulator(W, H, pos_thres=0.3, neg_thres=0.25, **CLEAN)
    f, t = _step_frames(200.0, 50.0, n=3)
    ev = emu.feed(f, t)
    assert ev.size == math.floor(math.log(4) / 0.25) and np.all(ev["p"] == 0)
    base = emu.get_state()["base"].reshape(H, W)
    assert base[2, 3] == pytest.approx(math.log(200) - ev.size * 0.25)


def test_lin_log_region_is_linear():
    # below the cutoff, L = I * log(20) / 20: a step 5 -> 15 is a log step of 10 * log(20) / 20
    emu = FrameEmulator(W, H, pos_thres=0.1, **CLEAN)
    ev = emu.feed(*_step_frames(5.0, 15.0))
    assert ev.size == math.floor(10 * math.log(20) / 20 / 0.1)


def test_threshold_spread_varies_counts_across_pixels():
    emu = FrameEmulator(W, H, pos_thres=0.2, sigma_thres=0.05, seed=3)
    f = np.stack([np.full((H, W), 40.0, np.float32), np.full((H, W), 200.0, np.float32)])
    ev = emu.feed(f, np.array([0, 1000]))
    counts = np.bincount(ev["y"].astype(int) * W + ev["x"], minlength=W * H)
    assert counts.min() < counts.max()
    assert abs(counts.mean() - math.log(5) / 0.2) < 1.5


def test_lowpass_spreads_a_step_over_frames():
    emu = FrameEmulator(W, H, pos_thres=0.2, cutoff_hz=5.0, **CLEAN)
    f, t = _step_frames(50.0, 200.0, n=40)
    ev = emu.feed(f, t)
    n = ref.step_on_events(50.0, 200.0, 0.2)
    assert n - 1 <= ev.size <= n
    assert ev["t"].max() > 30_000  # not all in the first interval


def test_refractory_period_drops_close_events():
    emu = FrameEmulator(W, H, pos_thres=0.1, refractory_us=2_000, **CLEAN)
    ev = emu.feed(*_step_frames(50.0, 200.0))
    assert 1 <= ev.size < ref.step_on_events(50.0, 200.0, 0.1)
    assert np.all(np.diff(ev["t"]) >= 2_000)


def test_leak_and_shot_noise_rates():
    T, fps = 20.0, 100
    n = int(T * fps)
    frames = np.full((n, H, W), 120.0, np.float32)
    t = np.arange(n, dtype=np.int64) * (1_000_000 // fps)
    leak = FrameEmulator(W, H, leak_rate_hz=2.0, seed=1).feed(frames, t)
    assert np.all(leak["p"] == 1)
    assert abs(leak.size / (T * W * H) - 2.0) < 0.2
    shot = FrameEmulator(W, H, shot_noise_rate_hz=3.0, seed=1).feed(frames, t)
    assert abs(shot.size / (T * W * H) - 3.0) < 0.4
    assert 0.4 < shot["p"].mean() < 0.6


@pytest.mark.parametrize("seed", [0, 1])
def test_chunk_invariant_over_frames_and_deterministic_per_seed(seed):
    rng = np.random.default_rng(seed)
    n = 60
    frames = (100 + 80 * np.sin(np.arange(n)[:, None, None] / 5 + rng.random((1, H, W)) * 6)).astype(np.float32)
    t = np.cumsum(rng.integers(1_000, 20_000, n)).astype(np.int64)
    kw = dict(cutoff_hz=30.0, leak_rate_hz=1.0, shot_noise_rate_hz=2.0, refractory_us=300, seed=seed)
    whole = FrameEmulator(W, H, **kw).feed(frames, t)
    assert whole.size > 100 and np.all(np.diff(whole["t"]) >= 0) and whole.dtype == EVENT_DTYPE
    emu, parts, i = FrameEmulator(W, H, **kw), [], 0
    while i < n:
        k = int(rng.integers(1, 9))
        parts.append(emu.feed(frames[i:i + k], t[i:i + k]))
        i += k
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    np.testing.assert_array_equal(FrameEmulator(W, H, **kw).feed(frames, t), whole)
    other = FrameEmulator(W, H, **(kw | {"seed": seed + 100})).feed(frames, t)
    assert other.size != whole.size or not np.array_equal(other, whole)


def test_state_round_trip():
    frames = np.linspace(30, 220, 20)[:, None, None] * np.ones((1, H, W), np.float32)
    t = np.arange(20, dtype=np.int64) * 5_000
    kw = dict(leak_rate_hz=3.0, shot_noise_rate_hz=5.0, seed=2)
    a = FrameEmulator(W, H, **kw)
    head = a.feed(frames[:7], t[:7])
    b = FrameEmulator(W, H, **(kw | {"seed": 99}))
    b.set_state({k: v.copy() for k, v in a.get_state().items()})
    b.params = a.params  # the seed also keys the noise hash
    np.testing.assert_array_equal(np.concatenate([head, b.feed(frames[7:], t[7:])]),
                                  FrameEmulator(W, H, **kw).feed(frames, t))


@pytest.mark.parametrize("kw,match", [({"pos_thres": 0}, "pos_thres"), ({"sigma_thres": -1}, "sigma_thres"),
                                      ({"refractory_us": 1.5}, "refractory_us"), ({"bogus": 1}, "unknown")])
def test_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        FrameEmulator(W, H, **kw)


def test_bad_frames():
    emu = FrameEmulator(W, H)
    with pytest.raises(ValueError, match="shape"):
        emu.feed(np.zeros((2, H + 1, W)), np.array([0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        emu.feed(np.full((1, H, W), np.nan), np.array([0]))
    emu.feed(np.full((1, H, W), 50.0), np.array([10]))
    with pytest.raises(ValueError, match="not after"):
        emu.feed(np.full((1, H, W), 50.0), np.array([10]))


def test_frame_reader_npy_stack_and_images(tmp_path):
    stack = (np.arange(5 * H * W).reshape(5, H, W) % 255).astype(np.uint8)
    np.save(tmp_path / "f.npy", stack)
    r = FrameReader(tmp_path / "f.npy", frame_rate_hz=50)
    f, t = r.read(3)
    assert f.shape == (3, H, W) and t.tolist() == [0, 20_000, 40_000]
    f2, t2 = r.read(10)
    assert f2.shape[0] == 2 and t2.tolist() == [60_000, 80_000] and r.read(10)[0].shape[0] == 0
    np.testing.assert_array_equal(np.concatenate([f, f2]), stack.astype(np.float32))
    rgb = np.repeat(stack[..., None], 3, axis=-1)
    np.save(tmp_path / "rgb.npy", rgb)
    np.testing.assert_allclose(FrameReader(tmp_path / "rgb.npy").read(5)[0], stack, atol=1e-3)
    Image = pytest.importorskip("PIL.Image")
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(5):
        Image.fromarray(stack[i]).save(d / f"frame{i:03d}.png")
    fr, _ = FrameReader(d).read(10)
    np.testing.assert_array_equal(fr, stack.astype(np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((3, 4)))
    with pytest.raises(ValueError, match="shaped"):
        FrameReader(tmp_path / "bad.npy")
    with pytest.raises(FileNotFoundError):
        FrameReader(tmp_path / "none.npy")


def test_emulate_to_file_writes_what_the_emulator_gives(tmp_path):
    from spikestream.events.emulator import emulate_to_file
    from spikestream.events.io import open_reader

    n, h, w = 25, 10, 12
    frames = (120 + 100 * np.sin(np.arange(n)[:, None, None] / 3 + np.arange(w)[None, None, :] / 4)
              * np.ones((1, h, 1))).astype(np.float32)
    np.save(tmp_path / "frames.npy", frames)
    seen = []
    count = emulate_to_file(tmp_path / "frames.npy", tmp_path / "out.npy", frame_rate_hz=50, frames_per_read=7,
                            progress=lambda d, t: seen.append((d, t)), seed=5, shot_noise_rate_hz=1.0)
    want = FrameEmulator(w, h, seed=5, shot_noise_rate_hz=1.0).feed(frames, np.arange(n, dtype=np.int64) * 20_000)
    with open_reader(tmp_path / "out.npy") as r:
        got = r.read(10 * count + 1)
    assert count == want.size > 50 and seen[-1] == (n, n)
    np.testing.assert_array_equal(got, want)
