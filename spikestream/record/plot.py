"""`spikestream plot RECORDING.xdf -o OUT.png|svg`: a first look at a recorded run, one panel per kind.

Why a fixed set of panels rather than a plotting API: after a run one wants to see at a glance whether
the encoder fired, whether the network's rates are sane, whether the decoded control followed its target,
and what the weights learned. Panels, in order, for the streams present (``--streams`` selects by name):

- samples: up to `max_channels` channels of each samples stream (a ``*.target`` stream overlays the
  control panel instead, when its channel labels match the control's names);
- spikes: a raster (neuron vs time; at most `max_raster` spikes drawn, evenly thinned) and the firing
  rate per neuron over time (a heat map, Hz, in bins of `bin_s`);
- control: the decoded values over time, the matching target dashed, the safe ones marked;
- events: event rate over time per polarity;
- weights (``--state snn.npz``): each projection's weight matrix, when the network can be rebuilt
  (``--pipeline FILE --node snn``); from the checkpoint alone, the histogram of all weights (the
  checkpoint stores one flat weight array, not the shapes of the projections).

matplotlib is optional (``pip install spikestream[plot]``), imported here only, with the Agg backend.
"""

from __future__ import annotations

import numpy as np

from spikestream.record.xdf import XDFStream, read_xdf


class PlotError(RuntimeError):
    """Plotting is not possible: matplotlib missing, nothing to plot, an unusable checkpoint."""


def _mpl():
    try:
        import matplotlib
    except ImportError:
        raise PlotError("spikestream plot needs matplotlib: pip install 'spikestream[plot]' "
                        "(or pip install 'matplotlib>=3.7')") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def snn_weights(state_path: str, pipeline: str | None = None, node: str = "snn") -> dict[str, np.ndarray]:
    """Weight matrices [pre, post] per projection from an SNN node's checkpoint (rebuilt through the node
    with the pipeline file's parameters); without a pipeline, {"all weights": flat array}."""
    from spikestream.runtime import checkpoint

    state = checkpoint.read(state_path)
    if "w" not in state:
        raise PlotError(f"{state_path}: no weight array 'w' (not an SNN node's checkpoint?)")
    if pipeline is None:
        return {"all weights": np.asarray(state["w"], np.float64).ravel()}
    from spikestream.nodes.snn import SNNNode
    from spikestream.runtime import pipeline as pl

    spec = pl.load(pipeline, resolve_auto=False).nodes.get(node)
    if spec is None:
        raise PlotError(f"no node {node!r} in {pipeline}")
    n = SNNNode(node, spec.params)
    n.setup()
    try:
        n.set_state(state)
    except ValueError as e:
        raise PlotError(f"{state_path} does not fit node {node!r} of {pipeline}: {e}") from None
    return {p: n.snn.weight_matrix(p) for p in n.snn.projections}


def _time(s: XDFStream, t0: float) -> np.ndarray:
    return s.time_stamps - t0


def plot(recording: str, out: str, streams: list[str] | None = None, state: str | None = None,
         pipeline: str | None = None, node: str = "snn", max_channels: int = 4, bin_s: float = 0.1,
         max_raster: int = 200_000, width_in: float = 10.0, panel_in: float = 2.2, dpi: int = 100) -> dict:
    """Draw the figure into `out` (format from its suffix: png, svg, pdf). Returns what was drawn."""
    plt = _mpl()
    data = [s for s in read_xdf(recording, streams) if s.time_stamps.size]
    by = {k: [s for s in data if s.type == k] for k in ("samples", "spikes", "control", "events")}
    ctl_names = {lab for c in by["control"] for lab in c.labels}
    targets = [s for s in by["samples"] if set(s.labels) & ctl_names and s.name.endswith("target")]
    signals = [s for s in by["samples"] if s not in targets]
    weights = snn_weights(state, pipeline, node) if state else {}
    panels = [("samples", s) for s in signals] + [p for s in by["spikes"] for p in (("raster", s), ("rate", s))]
    panels += [("control", s) for s in by["control"]] + [("events", s) for s in by["events"]]
    panels += [("weights", (k, w)) for k, w in weights.items()]
    if not panels:
        raise PlotError(f"{recording}: no stream with data to plot" + (f" among {streams}" if streams else ""))
    t0 = min((float(s.time_stamps.min()) for s in data), default=0.0)
    fig, axes = plt.subplots(len(panels), 1, figsize=(width_in, panel_in * len(panels)), squeeze=False)
    kw = {"max_channels": max_channels, "bin_s": bin_s, "max_raster": max_raster, "targets": targets}
    draw = {"samples": _samples, "raster": _raster, "rate": _rate, "control": _control, "events": _events,
            "weights": _weights}
    for ax, (what, s) in zip(axes[:, 0], panels):
        draw[what](ax, s, t0, kw)
    fig.suptitle(recording, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return {"out": str(out), "panels": [f"{w}: {s[0] if w == 'weights' else s.name}" for w, s in panels]}


def _samples(ax, s: XDFStream, t0: float, kw: dict) -> None:
    v = s.time_series
    labels = s.labels or [f"ch{i}" for i in range(v.shape[1])]
    for c in range(min(kw["max_channels"], v.shape[1])):
        ax.plot(_time(s, t0), v[:, c], lw=0.7, label=labels[c])
    ax.set_title(f"{s.name}: {min(kw['max_channels'], v.shape[1])} of {v.shape[1]} channels", fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=4)
    ax.set_xlabel("source time (s)")


def _raster(ax, s: XDFStream, t0: float, kw: dict) -> None:
    t, idx = _time(s, t0), s.time_series[:, 0]
    step = max(1, int(np.ceil(t.size / kw["max_raster"])))
    ax.scatter(t[::step], idx[::step], s=1.5, c="k", marker="|", linewidths=0.5)
    thinned = f", every {step}th drawn" if step > 1 else ""
    ax.set_title(f"{s.name}: {t.size} spikes{thinned}", fontsize=9)
    ax.set_ylabel("neuron")
    ax.set_xlabel("source time (s)")


def _rate(ax, s: XDFStream, t0: float, kw: dict) -> None:
    t, idx = _time(s, t0), s.time_series[:, 0]
    n = int(s.desc("spikestream/n_neurons_max", "0", footer=True) or 0) or int(s.desc("spikestream/n_neurons", "0") or 0)
    n = max(n, int(idx.max()) + 1)
    b = kw["bin_s"]
    edges = np.arange(0.0, float(t.max()) + b, b)
    if edges.size < 2:
        edges = np.array([0.0, b])
    h, _, _ = np.histogram2d(idx, t, bins=[np.arange(n + 1) - 0.5, edges])
    im = ax.imshow(h / b, aspect="auto", origin="lower", extent=(edges[0], edges[-1], -0.5, n - 0.5),
                   cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="Hz", pad=0.01)
    ax.set_title(f"{s.name}: firing rate per neuron ({b:g} s bins; population mean "
                 f"{h.sum() / max(n, 1) / (edges[-1] - edges[0]):.1f} Hz)", fontsize=9)
    ax.set_ylabel("neuron")
    ax.set_xlabel("source time (s)")


def _control(ax, s: XDFStream, t0: float, kw: dict) -> None:
    t, v = _time(s, t0), s.time_series
    labels = s.labels
    for c, lab in enumerate(labels[:-1]):
        line, = ax.plot(t, v[:, c], lw=0.9, label=f"{lab} (decoded)")
        for tg in kw["targets"]:
            if lab in tg.labels:
                ax.plot(_time(tg, t0), tg.time_series[:, tg.labels.index(lab)], "--", lw=0.8,
                        color=line.get_color(), label=f"{lab} ({tg.name})")
    safe = v[:, -1] > 0
    if safe.any():
        ax.plot(t[safe], v[safe, 0], "rx", ms=3, label="safe value")
    ax.set_title(f"{s.name}: control" + (" vs target" if kw["targets"] else ""), fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    ax.set_xlabel("source time (s)")


def _events(ax, s: XDFStream, t0: float, kw: dict) -> None:
    t, p = _time(s, t0), s.time_series[:, 2]
    b = kw["bin_s"]
    edges = np.arange(0.0, float(t.max()) + b, b)
    for pol, col in ((1, "tab:red"), (0, "tab:blue")):
        h, _ = np.histogram(t[p == pol], bins=edges if edges.size > 1 else 1)
        ax.plot(edges[:-1] if edges.size > 1 else [0.0], h / b, color=col, label=f"p={pol}")
    ax.set_title(f"{s.name}: event rate ({t.size} events)", fontsize=9)
    ax.set_ylabel("events/s")
    ax.set_xlabel("source time (s)")
    ax.legend(fontsize=7)


def _weights(ax, item, t0: float, kw: dict) -> None:
    name, w = item
    if w.ndim == 1:
        ax.hist(w, bins=50, color="tab:purple")
        ax.set_title(f"{name} ({w.size}; give --pipeline and --node for per-projection matrices)", fontsize=9)
        return
    im = ax.imshow(w.T, aspect="auto", origin="lower", cmap="magma", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, pad=0.01)
    ax.set_title(f"weights {name}: {w.shape[0]} pre x {w.shape[1]} post", fontsize=9)
    ax.set_xlabel("pre")
    ax.set_ylabel("post")
