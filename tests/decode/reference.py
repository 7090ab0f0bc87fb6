"""Slow plain-numpy references for the decoder kernels."""

from __future__ import annotations

import numpy as np


def exp_rates(idx, t_us, until_us, n, tau_ms):
    """r_j(T) = (1/tau) sum_{t_k < T, idx_k = j} exp(-(T - t_k)/tau), straight from the definition."""
    tau_us = tau_ms * 1e3
    out = np.zeros(n)
    m = t_us < until_us
    for j, t in zip(idx[m], t_us[m]):
        out[j] += np.exp(-(until_us - t) / tau_us) / (tau_ms * 1e-3)
    return out


def box_counts(idx, t_us, until_us, n, window_ms):
    w = int(round(window_ms * 1e3))
    m = (t_us >= until_us - w) & (t_us < until_us)
    return np.bincount(idx[m], minlength=n)


def rls(X, Y, lam, reg):
    """Textbook RLS in matrix form; returns the a-priori predictions and the final W, P."""
    D, K = X.shape[1], Y.shape[1]
    W = np.zeros((D, K))
    P = np.eye(D) / reg
    pred = np.zeros_like(Y)
    for t in range(X.shape[0]):
        x = X[t][:, None]
        pred[t] = (W.T @ x).ravel()
        k = P @ x / (lam + (x.T @ P @ x).item())
        W = W + k @ (Y[t][None, :] - x.T @ W)
        P = (P - k @ x.T @ P) / lam
    return pred, W, P


def weighted_ridge(X, Y, lam, reg):
    """The closed form RLS converges to: argmin_W sum_t lam^(T-t) |y_t - W^T x_t|^2 + lam^T reg |W|^2."""
    T = X.shape[0]
    w = lam ** (T - 1 - np.arange(T))
    A = (X * w[:, None]).T @ X + lam ** T * reg * np.eye(X.shape[1])
    return np.linalg.solve(A, (X * w[:, None]).T @ Y)


def nlms(X, Y, mu, eps):
    W = np.zeros((X.shape[1], Y.shape[1]))
    pred = np.zeros_like(Y)
    for t in range(X.shape[0]):
        x = X[t]
        pred[t] = W.T @ x
        W = W + mu * np.outer(x, Y[t] - pred[t]) / (eps + x @ x)
    return pred, W


def kalman_fit(X, Z):
    """Batch least squares fit of the Kalman model (Wu et al. 2006) with bias terms, from stacked data."""
    T, K = X.shape
    Xa = np.hstack([X, np.ones((T, 1))])
    Aa = np.linalg.lstsq(Xa[:-1], X[1:], rcond=None)[0].T
    Rw = X[1:] - Xa[:-1] @ Aa.T
    Hd = np.linalg.lstsq(Xa, Z, rcond=None)[0].T
    Rq = Z - Xa @ Hd.T
    return Aa[:, :K], Aa[:, K], Rw.T @ Rw / (T - 1), Hd[:, :K], Hd[:, K], Rq.T @ Rq / T


def kalman_filter(Z, A, a, W, H, d, Q, x0, P0):
    """Textbook covariance-form Kalman filter (gain through the N x N innovation covariance)."""
    x, P = x0.copy(), P0.copy()
    out = []
    for z in Z:
        xp = A @ x + a
        Pp = A @ P @ A.T + W
        S = H @ Pp @ H.T + Q
        G = Pp @ H.T @ np.linalg.inv(S)
        x = xp + G @ (z - H @ xp - d)
        P = (np.eye(len(x)) - G @ H) @ Pp
        out.append(x.copy())
    return np.array(out)


def lda_fit(F, y, n_classes, shrink):
    N = F.shape[1]
    mu = np.array([F[y == c].mean(0) for c in range(n_classes)])
    R = F - mu[y]
    S = R.T @ R / len(y)
    S = (1 - shrink) * S + shrink * np.trace(S) / N * np.eye(N)
    Si = np.linalg.inv(S)
    prior = np.bincount(y, minlength=n_classes) / len(y)
    return mu @ Si, -0.5 * np.einsum("cn,nm,cm->c", mu, Si, mu) + np.log(prior)
