"""The encoder node: samples in, one spike packet per samples message out.

Params: ``encoder`` (an ENCODERS name, default "delta"), that encoder's own parameters, ``conditioning``
(optional list of ``{kind = "...", ...}`` stages applied first) and ``channels`` (optional: the expected
channel count, fixed for good; otherwise the first message gives it, and a run of ``resize_after`` (default
20) consecutive messages of one other channel count rebuilds the encoder, counted as ``rebuilds``);
``max_channels`` (default 4096) bounds what a message may ask for. Each inbound chunk ``t[0..n-1]`` gives a Spikes
packet over ``[t[0], t[n-1] + period)`` with the inbound ``origin_ns``. A message with the wrong channel
count or timestamps not after the previous message's is rejected, counted and logged; the node goes on.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from spikestream.condition._registry import build_chain
from spikestream.params import Param, Params, node_params, selector
from spikestream.protocol import Message, Samples, Spikes
from spikestream.registry import CONDITIONERS, ENCODERS
from spikestream.runtime.node import Node, register_node

def _encoder_keys(values: dict) -> list[str] | None:
    """The keys the chosen encoder takes (its constructor's), beyond the node's own; None: any."""
    try:
        cls = ENCODERS.get(values.get("kind") or values.get("encoder") or "delta")
    except KeyError:
        return []  # the unknown name is reported by its own check
    sig = inspect.signature(cls).parameters
    if any(q.kind is inspect.Parameter.VAR_KEYWORD for q in sig.values()):
        return None
    return [k for k in sig if k not in ("n_channels", "rate_hz")]


def _encoder_name(v: str) -> str:
    ENCODERS.get(v)  # an unknown name: UnknownKind (a ValueError) naming the known ones
    return v


def _make_encoder(kind: str, kw: dict, n_channels: int, rate_hz: float | None):
    """The `kind` encoder for `n_channels` with its parameters `kw` (and `rate_hz` when it takes a sample
    rate); a keyword it refuses is a ValueError naming the encoder. The node's set-up, its rebuilds and the
    load-time check (`_trial_build`) all build through here."""
    cls = ENCODERS.get(kind)
    if "rate_hz" in inspect.signature(cls).parameters:
        kw = {**kw, "rate_hz": rate_hz}  # encoders that need the sample rate get it from the params or the stream
    try:
        return cls(n_channels=n_channels, **kw)
    except TypeError as e:
        raise ValueError(f"encoder {kind!r}: {e}") from None


def _trial_build(values: dict, table: dict) -> None:
    """The encoder built once with the table's values (one channel and 1 MHz stand in for what the stream
    gives), so a bad value (``threshold = -3``, an unknown ``mode``) fails at load, and in the node's set-up
    (`node_params` runs this check) before any message."""
    kind = values.get("kind") or values.get("encoder") or "delta"
    _make_encoder(kind, {k: v for k, v in values.items() if k not in _OWN}, values["channels"] or 1,
                  float(values["rate_hz"] or 1e6))


_OWN_PARAMS = Params(
    Param("kind", str, None, check=_encoder_name, doc="the encoder (an ENCODERS name; `encoder` is the older spelling)"),
    Param("encoder", str, None, check=_encoder_name, doc="the encoder (same as `kind`); default \"delta\""),
    Param("conditioning", list, None, items=dict, check=selector(CONDITIONERS), doc="conditioning stages applied first: [{kind = ..., ...}, ...]"),
    Param("channels", int, None, lo=1, doc="the expected channel count, fixed for good (default: the first message's)"),
    Param("rate_hz", float, None, unit="Hz", lo=0, lo_open=True, doc="the sample rate (default: the messages')"),
    Param("max_channels", int, 4096, lo=1, doc="the most channels a message may ask for"),
    Param("resize_after", int, 20, unit="messages", lo=1,
          doc="consecutive messages of another channel count that rebuild the encoder"),
    rest="the encoder's own parameters (docs/encoders.md)", rest_keys=_encoder_keys, check=_trial_build,
)
_OWN = tuple(_OWN_PARAMS.names())


@register_node("encoder")
class EncoderNode(Node):
    inputs = {"in": ("samples",)}
    outputs = {"out": "spikes"}
    PARAMS = _OWN_PARAMS
    COMMANDS = {"reset": "{}: clear the encoder's and the conditioning stages' state (a new stream)"}

    def setup(self) -> None:
        p = node_params(self)
        if p["kind"] and p["encoder"] and p["kind"] != p["encoder"]:
            raise ValueError(f"parameters 'kind' ({p['kind']!r}) and 'encoder' ({p['encoder']!r}) name two encoders")
        self.encoder_kind = p["kind"] or p["encoder"] or "delta"
        self.enc_params = {k: v for k, v in self.params.items() if k not in _OWN}
        self.enc = None
        self.chain: list = []
        self._period_us = 1
        self._state_pending: dict | None = None
        self._other = (0, 0)  # (channel count, run length) of consecutive messages of another count
        self._max_channels, self._resize_after = p["max_channels"], p["resize_after"]
        ch, rate = p["channels"], p["rate_hz"]
        self._rate = rate
        if ch is not None and ch > self._max_channels:
            raise ValueError(f"parameter 'channels' must be an integer in [1, max_channels = {self._max_channels}], "
                             f"got {ch!r}")
        # bad parameters fail now, not at the first message: node_params built the encoder once (`_trial_build`);
        # the conditioning stages are tried here (1e6 Hz stands in for an unknown rate)
        build_chain(self.params.get("conditioning"), ch or 1, float(rate) if rate else 1e6)
        self._last_t = None
        if ch is not None and (rate or not self._needs_rate()):
            self._build(ch, float(rate) if rate else None)

    def _needs_rate(self) -> bool:
        return bool(self.params.get("conditioning")) or "rate_hz" in inspect.signature(ENCODERS.get(self.encoder_kind)).parameters

    def _build(self, n_channels: int, rate_hz: float | None) -> None:
        self.enc = _make_encoder(self.encoder_kind, self.enc_params, n_channels, rate_hz)
        specs = self.params.get("conditioning")
        if specs and not rate_hz:
            raise ValueError("conditioning needs the sample rate: set 'rate_hz' or send samples with a rate")
        self.chain = build_chain(specs, n_channels, rate_hz or 0.0)
        self._last_t = None

    # ------------------------------------------------------------------ runtime callbacks
    def on_message(self, port: str, msg) -> None:
        s = msg.body
        n, c = s.data.shape
        if n == 0:
            return
        if not self._sized(c, s.rate_hz):
            return
        if self._last_t is not None and int(s.t_us[0]) <= self._last_t:
            self.reject("rejected_time", f"samples message refused: chunk starts at t={int(s.t_us[0])} us, not after the last sample "
                         f"t={self._last_t} us")
            return
        try:
            data = s.data
            for stage in self.chain:
                data = stage.process(data, s.t_us)
            idx, t = self.enc.encode(data, s.t_us)
        except ValueError as e:
            self.reject("rejected_samples", f"samples message refused: {e}")
            return
        self._last_t = int(s.t_us[-1])
        if s.rate_hz > 0:
            self._period_us = max(1, int(1e6 // s.rate_hz))
        elif n > 1:
            self._period_us = max(1, int(s.t_us[-1] - s.t_us[-2]))
        t0, t1 = int(s.t_us[0]), int(s.t_us[-1]) + self._period_us
        self.emit("out", Spikes(t0, t1, self.enc.n_outputs, idx.astype(np.uint32), t), int(s.t_us[-1]), msg.origin_ns)
        self.count("samples_in", n)
        self.count("spikes_out", int(idx.size))

    def warm(self, bodies: list[Samples] | None = None) -> None:
        """Load the kernels of the conditioning stages and the encoder: a scratch node of the same parameters
        encodes two short messages (`bodies`, as given: an input node's own rows; default: noisy sines of this
        node's channel count through the wire format). The real encoder is not touched."""
        from spikestream.runtime.warm import feed, samples, scratch

        if bodies:
            s = scratch(self, channels=int(bodies[0].data.shape[1]))
            for b in bodies:
                s.on_message("in", Message(b, "warm", 0, int(b.t_us[-1]), 0))
            return
        n = self.enc.n_inputs if self.enc is not None else self.params.get("channels")
        rate = float(self._rate or 1000.0)
        rows = 10
        # one channel or more: a column of a one-column array is contiguous, of a wider one strided, and Numba
        # compiles a kernel for each layout; so with the count not known yet, warm both
        for c in [n] if n else [1, 2]:
            s = scratch(self, channels=c)
            for k in range(2):
                feed(s, "in", samples(rows, c, int(k * rows * 1e6 / rate), rate, seed=k), seq=k)

    def _sized(self, c: int, rate_hz: float) -> bool:
        """Whether the encoder takes `c` channels, building it at the first message and rebuilding it after
        `resize_after` consecutive messages of one other count (unless the ``channels`` param fixed it)."""
        if self.enc is not None and c == self.enc.n_inputs:
            self._other = (0, 0)
            return True
        if not 1 <= c <= self._max_channels:
            self.reject("rejected_channels", f"samples message refused: {c} channels (the node takes 1 to max_channels = {self._max_channels})")
            return False
        old = self.enc
        if old is not None:
            run = self._other[1] + 1 if self._other[0] == c else 1
            self._other = (c, run)
            if self.params.get("channels") is not None or run < self._resize_after:
                self.reject("rejected_channels", f"samples message refused: {c} channels where {old.n_inputs} are expected")
                return False
        try:
            self._build(c, (self._rate or 0.0) or rate_hz or None)
        except ValueError as e:
            self.enc = old
            self.reject("rejected_samples", f"samples message refused: {e}")
            return False
        self._other = (0, 0)
        if old is not None:
            self.count("rebuilds")
            self.log.warning("%s: %d consecutive messages with %d channels: encoder rebuilt for them (was %d, "
                             "sized by the first message)", self.name, self._resize_after, c, old.n_inputs)
        if self._state_pending is not None:
            state, self._state_pending = self._state_pending, None
            try:
                self.set_state(state)
            except Exception as e:  # a state of another encoder: start fresh, loudly
                self._build(c, (self._rate or 0.0) or rate_hz or None)
                self.count("rejected_state")
                self.log.error("%s: saved encoder state not loaded (%s: %s); starting fresh", self.name,
                               type(e).__name__, e)
        return True

    def on_command(self, cmd: str, args: dict[str, Any]) -> Any:
        if cmd == "reset":
            if self.enc is not None:
                self.enc.reset()
                for st in self.chain:
                    st.reset()
                self._last_t = None
            return True
        return super().on_command(cmd, args)

    def get_state(self) -> dict[str, np.ndarray]:
        if self.enc is None:  # a restored state waiting for the first message is still the state
            return {k: np.array(v, copy=True) for k, v in (self._state_pending or {}).items()}
        st = {f"enc.{k}": v for k, v in self.enc.get_state().items()}
        for i, stage in enumerate(self.chain):
            st.update({f"cond{i}.{k}": v for k, v in stage.get_state().items()})
        return st

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if not state:
            return
        if self.enc is None:  # built at the first message; restore then
            self._state_pending = {k: np.array(v, copy=True) for k, v in state.items()}
            return
        self.enc.set_state({k[4:]: v for k, v in state.items() if k.startswith("enc.")})
        last = int(self.enc.get_state()["last_t"][0])
        self._last_t = None if last == np.iinfo(np.int64).min else last
        for i, stage in enumerate(self.chain):
            pre = f"cond{i}."
            stage.set_state({k[len(pre):]: v for k, v in state.items() if k.startswith(pre)})


class InlineEncoder:
    """An encoder inside an input node: the architecture's input node reads *and* encodes, saving a
    process and a hop. It is the encoder node itself, driven in-process, so it behaves exactly alike
    (same parameters, validation, counters, state); its spike packets go out on the owner's "spikes" port.
    """

    def __init__(self, owner: Node, params: dict[str, Any]):
        if not isinstance(params, dict):
            raise ValueError("parameter 'encoder' must be a table, e.g. {encoder = \"delta\", threshold = 0.2}")
        self.node = EncoderNode(f"{owner.name}.encoder", params,
                                emit=lambda port, body, t_us, origin_ns: owner.emit("spikes", body, t_us, origin_ns),
                                log=owner.log)
        self.node.counters = owner.counters  # one set of counters for the whole input node
        self.node.setup()

    def __call__(self, body: Samples, t_us: int, origin_ns: int) -> None:
        self.node.on_message("in", Message(body, "", 0, t_us, origin_ns))
