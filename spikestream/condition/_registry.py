"""Building chains of conditioning stages (filters applied to samples before encoding).

The registry itself, `CONDITIONERS`, lives with the others in `spikestream.registry`. A conditioning stage: ``n_channels``; ``process(data float32[n, C], t_us int64[n]) -> float32[n, C]``
(same rows, causal, chunk-invariant); ``reset()``; ``get_state``/``set_state``.
"""

from spikestream.registry import CONDITIONERS


def register(kind: str):
    """``CONDITIONERS.register(kind)``, and the class's `kind` (what its parameter errors are located as)."""

    def deco(cls):
        cls.kind = kind
        return CONDITIONERS.register(kind)(cls)

    return deco


def build_chain(specs, n_channels: int, rate_hz: float) -> list:
    """Build stages from ``[{"kind": "bandpass", ...params}, ...]`` (each gets n_channels and rate_hz)."""
    if specs is None:
        return []
    if not isinstance(specs, (list, tuple)):
        raise ValueError("conditioning must be a list of {kind = ..., ...} tables")
    chain = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or "kind" not in spec:
            raise ValueError(f"conditioning[{i}] must be a table with a 'kind' key")
        params = {k: v for k, v in spec.items() if k != "kind"}
        try:
            chain.append(CONDITIONERS.create(spec["kind"], n_channels=n_channels, rate_hz=rate_hz, **params))
        except TypeError as e:
            raise ValueError(f"conditioning[{i}] ({spec['kind']}): {e}") from None
    return chain
