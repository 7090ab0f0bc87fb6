"""Connection rules: which (pre, post) pairs a projection connects. All seeded; vectorised in blocks.

Each rule is ``rule(ctx, **params) -> (pre, post)`` with local int64 indices sorted by (pre, post).
Registered in `CONNECTION_RULES`, so a plugin can add one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikestream.registry import Registry, UnknownKind

CONNECTION_RULES = Registry("connection rule")
_BLOCK = 1 << 22  # random numbers drawn per block


@dataclass(frozen=True)
class Ctx:
    n_pre: int
    n_post: int
    pre_shape: tuple[int, int] | None
    post_shape: tuple[int, int] | None
    same: bool          # pre and post are the same layer (recurrent)
    rng: np.random.Generator


def _sorted(pre: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((post, pre))
    return pre[order].astype(np.int64), post[order].astype(np.int64)


def _drop_self(pre, post, ctx: Ctx, allow_self: bool):
    if ctx.same and not allow_self:
        keep = pre != post
        return pre[keep], post[keep]
    return pre, post


@CONNECTION_RULES.register("all_to_all")
def all_to_all(ctx: Ctx, allow_self: bool = False):
    pre = np.repeat(np.arange(ctx.n_pre), ctx.n_post)
    post = np.tile(np.arange(ctx.n_post), ctx.n_pre)
    return _sorted(*_drop_self(pre, post, ctx, allow_self))


@CONNECTION_RULES.register("one_to_one")
def one_to_one(ctx: Ctx):
    if ctx.n_pre != ctx.n_post:
        raise ValueError(f"one_to_one needs equal sizes, got {ctx.n_pre} -> {ctx.n_post}")
    a = np.arange(ctx.n_pre)
    return a.astype(np.int64), a.astype(np.int64)


def _prob(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"connection probability must be in [0, 1], got {p!r}")
    return float(p)


@CONNECTION_RULES.register("fixed_prob")
def fixed_prob(ctx: Ctx, p: float = 0.1, allow_self: bool = False):
    p = _prob(p)
    rows = max(1, _BLOCK // max(ctx.n_post, 1))
    pres, posts = [], []
    for r0 in range(0, ctx.n_pre, rows):
        r1 = min(ctx.n_pre, r0 + rows)
        i, j = np.nonzero(ctx.rng.random((r1 - r0, ctx.n_post)) < p)
        pres.append(i + r0)
        posts.append(j)
    pre = np.concatenate(pres) if pres else np.zeros(0, np.int64)
    post = np.concatenate(posts) if posts else np.zeros(0, np.int64)
    return _sorted(*_drop_self(pre, post, ctx, allow_self))


@CONNECTION_RULES.register("fixed_indegree")
def fixed_indegree(ctx: Ctx, k: int = 10, allow_self: bool = False):
    limit = ctx.n_pre - (1 if ctx.same and not allow_self else 0)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= limit:
        raise ValueError(f"fixed_indegree: k must be an integer in [0, {limit}], got {k!r}")
    cols = max(1, _BLOCK // max(ctx.n_pre, 1))
    pres, posts = [], []
    for c0 in range(0, ctx.n_post, cols):
        c1 = min(ctx.n_post, c0 + cols)
        r = ctx.rng.random((c1 - c0, ctx.n_pre))
        if ctx.same and not allow_self:
            r[np.arange(c1 - c0), np.arange(c0, c1)] = 2.0  # never chosen
        chosen = np.argpartition(r, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((c1 - c0, 0), np.int64)
        pres.append(chosen.ravel())
        posts.append(np.repeat(np.arange(c0, c1), k))
    return _sorted(np.concatenate(pres), np.concatenate(posts))


def _grid(shape, n, what):
    if shape is None:
        raise ValueError(f"distance_2d needs a 'shape = [rows, cols]' on the {what} layer")
    return shape


@CONNECTION_RULES.register("distance_2d")
def distance_2d(ctx: Ctx, sigma: float = 1.0, p_max: float = 1.0, radius: float | None = None,
                allow_self: bool = False):
    """p(connect) = p_max * exp(-d^2 / (2 sigma^2)) for d <= radius (default 3 sigma), with d measured in
    pre-grid cells after mapping the post grid onto the pre grid (centres aligned)."""
    ph, pw = _grid(ctx.pre_shape, ctx.n_pre, "pre")
    qh, qw = _grid(ctx.post_shape, ctx.n_post, "post")
    if not sigma > 0:
        raise ValueError("distance_2d: sigma must be > 0")
    p_max = _prob(p_max)
    radius = 3.0 * sigma if radius is None else float(radius)
    pr, pc = np.divmod(np.arange(ctx.n_pre), pw)
    qr, qc = np.divmod(np.arange(ctx.n_post), qw)
    qy = (qr + 0.5) * (ph / qh) - 0.5
    qx = (qc + 0.5) * (pw / qw) - 0.5
    cols = max(1, _BLOCK // max(ctx.n_pre, 1))
    pres, posts = [], []
    for c0 in range(0, ctx.n_post, cols):
        c1 = min(ctx.n_post, c0 + cols)
        d2 = (pr[None, :] - qy[c0:c1, None]) ** 2 + (pc[None, :] - qx[c0:c1, None]) ** 2
        prob = np.where(d2 <= radius * radius, p_max * np.exp(-d2 / (2 * sigma * sigma)), 0.0)
        j, i = np.nonzero(ctx.rng.random(prob.shape) < prob)
        pres.append(i)
        posts.append(j + c0)
    return _sorted(*_drop_self(np.concatenate(pres), np.concatenate(posts), ctx, allow_self))


def connect(rule: str, ctx: Ctx, params: dict) -> tuple[np.ndarray, np.ndarray]:
    try:
        fn = CONNECTION_RULES.get(rule)
    except UnknownKind as e:
        raise ValueError(str(e)) from None
    try:
        return fn(ctx, **params)
    except TypeError as e:
        raise ValueError(f"connection rule {rule!r}: {e}") from None
