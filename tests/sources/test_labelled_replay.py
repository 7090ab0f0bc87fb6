"""Labelled replay: recordings with their labels in lockstep, calibration then evaluation set, bad input."""

import logging

import numpy as np
import pytest

from spikestream.nodes.encoder import EncoderNode
from spikestream.sources.labelled import LabelledReplay
from spikestream.testing import NodeHarness

T0 = 1_000_000_000_000
RAW = {"dtype": "<i2", "channels": 8, "rate_hz": 200}


def myo_folder(root, n_files=14, frames=7):
    """classe_K.dat like the Myo set; frame j of file K holds K*100 + j in every channel (its identity)."""
    d = root / "Person0" / "training0"
    d.mkdir(parents=True)
    for k in range(n_files):
        x = np.repeat((k * 100 + np.arange(frames))[:, None], 8, axis=1).astype("<i2")
        x.tofile(d / f"classe_{k}.dat")
    return d


def node(**params):
    h = NodeHarness("labelled_replay", {"progress": False, **params}, name="rep")
    return h.node, h.out


def run_fast(n, max_polls=10_000):
    polls = 0
    while not n.finished and polls < max_polls:
        n.poll(T0 + polls)
        polls += 1
    return polls


def test_myo_layout_plays_in_natural_order_with_labels_phase_and_continuous_time(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    d = myo_folder(tmp_path)
    n, out = node(**RAW, calibrate=[f"{d}/classe_[0-9].dat", f"{d}/classe_1[0-1].dat"],
                  evaluate=f"{d}/classe_1[2-3].dat", label="classe_(\\d+)", label_map="mod 7",
                  chunk=5, pace="fast", fast_msgs_per_poll=3)
    assert [p.name for p in n.src.files] == [f"classe_{k}.dat" for k in range(14)]  # 2 before 10
    run_fast(n)
    assert n.finished
    samples = [(b, t) for p, b, t, _ in out if p == "samples"]
    targets = [(b, t) for p, b, t, _ in out if p == "target"]
    assert len(samples) == len(targets) == -(-14 * 7 // 5)
    # each chunk's target goes out just before its samples, with the very same times
    ports = [p for p, *_ in out]
    assert ports == ["target", "samples"] * len(samples)
    for (s, ts), (y, ty) in zip(samples, targets):
        assert ts == ty and np.array_equal(s.t_us, y.t_us)
    t = np.concatenate([s.t_us for s, _ in samples])
    x = np.concatenate([s.data for s, _ in samples])
    y = np.concatenate([b.data for b, _ in targets])
    assert targets[0][0].channels == ["label", "phase"] and samples[0][0].rate_hz == 200
    # every row once, in order; time never goes back and never skips across a file boundary
    file_of_row = x[:, 0] // 100
    assert x[:, 0].tolist() == [k * 100 + j for k in range(14) for j in range(7)]
    assert np.array_equal(t, np.arange(14 * 7) * 5000)
    assert np.array_equal(y[:, 0], file_of_row % 7)
    assert np.array_equal(y[:, 1], (file_of_row < 12).astype(np.float32))
    assert n.counters["files"] == 14 and n.counters["samples_out"] == 98 and n.counters["gaps"] == 0
    assert "playing classe_12.dat (evaluation) from t=420000 us" in caplog.text  # chunks straddle files


def test_paced_replay_is_due_at_recorded_times_with_a_gap_between_files(tmp_path):
    d = myo_folder(tmp_path, n_files=2, frames=4)
    n, out = node(**RAW, evaluate=f"{d}/classe_*.dat", label="classe_(\\d+)", chunk=2, gap_s=0.1)
    assert n.src.t_us.tolist() == [0, 5000, 10000, 15000, 120000, 125000, 130000, 135000]
    n.poll(T0)
    assert out == [] and n.wake_at_ns() == T0 + 5_000_000
    n.poll(T0 + 16_000_000)
    assert [b.t_us.tolist() for p, b, *_ in out if p == "samples"] == [[0, 5000], [10000, 15000]]
    n.poll(T0 + 100_000_000)  # within the gap: nothing due
    assert len(out) == 4 and n.wake_at_ns() == T0 + 125_000_000
    n.poll(T0 + 200_000_000)
    assert n.finished and [b.data[:, 0].tolist() for p, b, *_ in out if p == "target"][-1] == [1, 1]


def test_inline_encoder_spikes_carry_the_sample_times(tmp_path):
    d = myo_folder(tmp_path, n_files=3, frames=10)
    n, out = node(**RAW, calibrate=f"{d}/classe_*.dat", label="classe_(\\d+)", chunk=4, pace="fast",
                  encoder={"encoder": "delta", "threshold": 1.0})
    run_fast(n)
    spikes = [b for p, b, *_ in out if p == "spikes"]
    targets = [b for p, b, *_ in out if p == "target"]
    samples = [b for p, b, *_ in out if p == "samples"]
    assert len(spikes) == len(targets) == len(samples) == 8
    assert [s.t0_us for s in spikes] == [int(y.t_us[0]) for y in targets]
    assert sum(s.idx.size for s in spikes) > 0


def test_label_column_side_file_and_nan_rows_keep_labels_aligned(tmp_path, caplog):
    rows = ["a,b,gesture"] + [f"{k},{-k},{k % 3}" for k in range(10)]
    rows[3] = "nan,-2,2"  # row k=2: NaN data -> dropped with its label
    rows[6] = "5,-5,nan"  # row k=5: NaN label -> dropped with its data
    (tmp_path / "r1.csv").write_text("\n".join(rows) + "\n")
    n, out = node(evaluate=str(tmp_path / "r1.csv"), rate_hz=100, label_column="gesture", pace="fast", chunk=4)
    run_fast(n)
    s = np.concatenate([b.data for p, b, *_ in out if p == "samples"])
    y = np.concatenate([b.data for p, b, *_ in out if p == "target"])
    assert n.src.channels == ["a", "b"] and n.src.target_names == ["gesture", "phase"]
    assert s[:, 0].tolist() == [0, 1, 3, 4, 6, 7, 8, 9]
    assert np.array_equal(y[:, 0], s[:, 0] % 3) and n.counters["rejected_nonfinite"] == 2
    # a side file of continuous targets, shorter than the recording: the unlabelled tail is left out, counted
    np.save(tmp_path / "r2.npy", np.arange(20, dtype=np.float32).reshape(10, 2))
    (tmp_path / "r2.targets.csv").write_text("x,y\n" + "".join(f"{k / 10},{k}\n" for k in range(7)))
    with caplog.at_level(logging.WARNING):
        src = LabelledReplay(calibrate=str(tmp_path / "r2.npy"), rate_hz=50, side_file="{dir}/{stem}.targets.csv")
    assert src.total == 7 and src.stats["unlabelled_rows"] == 3 and src.target_names == ["x", "y", "phase"]
    assert "r2.targets.csv" in caplog.text and "r2.npy" in caplog.text
    c = src.read(10)
    np.testing.assert_allclose(c.target, np.stack([np.arange(7) / 10, np.arange(7), np.ones(7)], 1))
    np.testing.assert_array_equal(c.data[:, 0], np.arange(0, 14, 2))


def test_labels_list_and_label_map_table(tmp_path):
    for k in range(3):
        np.save(tmp_path / f"g{k}.npy", np.full((3, 2), k, np.float32))
    src = LabelledReplay(calibrate=str(tmp_path / "g[01].npy"), evaluate=str(tmp_path / "g2.npy"), rate_hz=10,
                         labels=["fist", "open", "fist"], label_map={"fist": 1, "open": 2})
    assert src.read(9).target.tolist() == [[1, 1]] * 3 + [[2, 1]] * 3 + [[1, 0]] * 3
    with pytest.raises(ValueError, match=r"g1\.npy.*'open' is not in label_map"):
        LabelledReplay(evaluate=str(tmp_path / "g*.npy"), rate_hz=10, labels=["fist", "open", "fist"],
                       label_map={"fist": 1})
    with pytest.raises(ValueError, match="one per file"):
        LabelledReplay(evaluate=str(tmp_path / "g*.npy"), rate_hz=10, labels=[1, 2])


def test_unknown_label_and_wrong_width_name_the_file_or_skip_it(tmp_path, caplog):
    d = myo_folder(tmp_path, n_files=3, frames=4)
    with pytest.raises(ValueError, match=r"classe_2\.dat.*'2' is not in label_map"):
        LabelledReplay(evaluate=f"{d}/*.dat", **RAW, label="classe_(\\d+)", label_map={"0": 0, "1": 1})
    with pytest.raises(ValueError, match="does not match"):
        LabelledReplay(evaluate=f"{d}/*.dat", **RAW, label="gesture_(\\d+)")
    np.save(d / "classe_1.npy", np.zeros((4, 6), np.float32))  # 6 channels among 8-channel recordings
    with pytest.raises(ValueError, match=r"classe_1\.npy: 6 channels where 8"):
        LabelledReplay(evaluate=[f"{d}/classe_0.dat", f"{d}/classe_1.npy"], **RAW, label="classe_(\\d+)")
    with caplog.at_level(logging.ERROR):
        src = LabelledReplay(evaluate=[f"{d}/classe_0.dat", f"{d}/classe_1.npy", f"{d}/classe_2.dat"], **RAW,
                             label="classe_(\\d+)", bad_files="skip")
    assert [p.name for p in src.files] == ["classe_0.dat", "classe_2.dat"] and src.stats["skipped_files"] == 1
    assert "classe_1.npy" in caplog.text and src.total == 8
    assert src.read(8).target[:, 0].tolist() == [0] * 4 + [2] * 4


def test_truncated_raw_file_plays_its_whole_frames(tmp_path):
    d = myo_folder(tmp_path, n_files=2, frames=5)
    with open(d / "classe_0.dat", "ab") as f:
        f.write(b"\x07" * 9)  # 9 bytes of a 16-byte frame
    n, out = node(**RAW, evaluate=f"{d}/*.dat", label="classe_(\\d+)", pace="fast")
    run_fast(n)
    x = np.concatenate([b.data for p, b, *_ in out if p == "samples"])
    assert x[:, 0].tolist() == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104] and n.counters["partial_frames"] == 1


def test_bad_parameters_are_clear(tmp_path, monkeypatch):
    d = myo_folder(tmp_path, n_files=2, frames=3)
    with pytest.raises(ValueError, match="no file matches"):
        node(**RAW, evaluate=f"{d}/nothing_*.dat")
    with pytest.raises(ValueError, match="MYO_TEST_DIR"):
        node(**RAW, evaluate="$MYO_TEST_DIR/classe_*.dat")
    monkeypatch.setenv("MYO_TEST_DIR", str(d))
    n, _ = node(**RAW, evaluate="$MYO_TEST_DIR/classe_*.dat", label="classe_(\\d+)")
    assert len(n.src.files) == 2
    with pytest.raises(ValueError, match="both"):
        node(**RAW, calibrate=f"{d}/classe_*.dat", evaluate=f"{d}/classe_1.dat")
    with pytest.raises(ValueError, match="unknown parameter"):
        node(**RAW, evaluate=f"{d}/classe_*.dat", lable="x")
    with pytest.raises(ValueError, match="one of"):
        node(**RAW, evaluate=f"{d}/classe_*.dat", label="classe_(\\d+)", labels=[0, 1])
    with pytest.raises(ValueError, match="mod N"):
        node(**RAW, evaluate=f"{d}/classe_*.dat", label="classe_(\\d+)", label_map="modulo 7")
    with pytest.raises(ValueError, match="calibrate"):
        node(**RAW)
    with pytest.raises(ValueError, match="channels"):
        node(**{**RAW, "channels": "8"}, evaluate=f"{d}/classe_*.dat")
    with pytest.raises(ValueError, match="gap_s"):
        node(**RAW, evaluate=f"{d}/classe_*.dat", gap_s="soon")


def test_an_encoder_node_downstream_accepts_every_packet(tmp_path):
    """The samples of consecutive files form one stream a separate encoder takes without a time rejection."""
    d = myo_folder(tmp_path, n_files=4, frames=9)
    n, out = node(**RAW, calibrate=f"{d}/classe_[01].dat", evaluate=f"{d}/classe_[23].dat", label="classe_(\\d+)",
                  pace="fast", chunk=4)
    run_fast(n)
    h = NodeHarness(EncoderNode, {"encoder": "delta", "threshold": 1.0}, name="enc")
    samples = [(b, t) for p, b, t, _ in out if p == "samples"]
    for b, t in samples:  # seq 0, 1, ... of the stream, through the wire format
        h.send("in", b, stream="rep.samples", t_us=t)
    enc = h.node
    assert enc.counters.get("samples_in") == 36 and not any(k.startswith("rejected") for k in enc.counters)


def test_a_restored_replay_goes_on_where_it_stopped_with_its_labels(tmp_path):
    d = myo_folder(tmp_path, n_files=4, frames=6)
    params = dict(**RAW, calibrate=f"{d}/classe_[01].dat", evaluate=f"{d}/classe_[23].dat", label="classe_(\\d+)",
                  pace="fast", chunk=4, fast_msgs_per_poll=2, encoder={"encoder": "delta", "threshold": 1.0})
    whole, out_w = node(**params)
    run_fast(whole)
    first, out_a = node(**params)
    first.poll(T0)
    first.poll(T0 + 1)  # 4 chunks = 16 rows: into the third file
    assert len([p for p, *_ in out_a if p == "samples"]) == 4
    state = first.get_state()
    second, out_b = node(**params)
    second.set_state(state)
    run_fast(second)

    def rows(out, port):
        return np.concatenate([b.data for p, b, *_ in out if p == port])

    for port in ("samples", "target"):
        np.testing.assert_array_equal(np.concatenate([rows(out_a, port), rows(out_b, port)]), rows(out_w, port))
    sw = [(b.t0_us, b.idx.tolist()) for p, b, *_ in out_w if p == "spikes"]
    sab = [(b.t0_us, b.idx.tolist()) for p, b, *_ in out_a + out_b if p == "spikes"]
    assert sab == sw
