"""Compiled inner loops (numba), each with a numpy/scipy reference it is tested against in tests/test_fast_paths.py."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def weighted_mann_whitney_sorted(ys, ls, group_end, weights_t, threads):
    """Weighted Mann-Whitney sums per resample over rows sorted by score: (numerator, positives, negatives).

    ``ys`` (rows,) bool classes, ``ls`` (rows,) id of each row, ``group_end`` (rows,) True on the last row of a
    tie group, ``weights_t`` (ids, B) each id's weight in each resample (ids x resamples, so a row's weights are
    contiguous and the inner loop runs over resamples; float32 or float64), ``threads`` the blocks of resamples run
    in parallel. numerator_b = sum over tie groups of pos_g * (neg below g + neg_g / 2); the AUC is
    numerator / (positives * negatives). Integer-valued sums in float64 are exact (below 2**53), so the result does
    not depend on the summation order.
    """
    B = weights_t.shape[1]
    blocks = max(1, min(B // 32, threads))  # one wide block per thread: the inner loops vectorise
    num_out = np.empty(B)
    pos_out = np.empty(B)
    neg_out = np.empty(B)
    for blk in prange(blocks):
        lo = blk * B // blocks
        hi = (blk + 1) * B // blocks
        width = hi - lo
        below = np.zeros(width)
        num = np.zeros(width)
        total_pos = np.zeros(width)
        pos_g = np.zeros(width)
        neg_g = np.zeros(width)
        single = True  # the current tie group has had no row yet
        for r in range(ys.size):
            idx = ls[r]
            if single and group_end[r]:  # a group of one row (untied scores): no group accumulators needed
                if ys[r]:
                    for b in range(width):
                        num[b] += weights_t[idx, lo + b] * below[b]
                        total_pos[b] += weights_t[idx, lo + b]
                else:
                    for b in range(width):
                        below[b] += weights_t[idx, lo + b]
                continue
            if ys[r]:
                for b in range(width):
                    pos_g[b] += weights_t[idx, lo + b]
            else:
                for b in range(width):
                    neg_g[b] += weights_t[idx, lo + b]
            single = False
            if group_end[r]:
                for b in range(width):
                    num[b] += pos_g[b] * (below[b] + 0.5 * neg_g[b])
                    below[b] += neg_g[b]
                    total_pos[b] += pos_g[b]
                    pos_g[b] = 0.0
                    neg_g[b] = 0.0
                single = True
        for b in range(width):
            num_out[lo + b] = num[b]
            pos_out[lo + b] = total_pos[b]
            neg_out[lo + b] = below[b]
    return num_out, pos_out, neg_out


@njit(cache=True)
def _sums(z, y, w, lo, hi, b0, b1):
    """One IRLS pass over rows lo..hi of one group: gradient (g0, g1), Hessian (h00, h01, h11) and the largest
    |linear predictor|. ``w`` holds 0/1 row weights, or is empty when every row counts."""
    masked = w.size > 0
    g0 = g1 = h00 = h01 = h11 = biggest = 0.0
    for i in range(lo, hi):
        wi = w[i] if masked else 1.0
        if wi == 0.0:
            continue
        zi = z[i]
        eta = b0 + b1 * zi
        if abs(eta) > biggest:
            biggest = abs(eta)
        mu = 1.0 / (1.0 + np.exp(-eta))
        r = (y[i] - mu) * wi
        W = mu * (1.0 - mu) * wi
        g0 += r
        g1 += r * zi
        h00 += W
        h01 += W * zi
        h11 += W * zi * zi
    return g0, g1, h00, h01, h11, biggest


@njit(cache=True)
def _newton_step(g0, g1, h00, h01, h11):
    """The 2 x 2 Newton step in closed form (ridge 1e-12 on the diagonal); intercept only when z is constant."""
    h00 += 1e-12
    h11 += 1e-12
    det = h00 * h11 - h01 * h01
    if det > 0:
        return (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
    return g0 / h00, 0.0


@njit(parallel=True, cache=True)
def logit_irls(z, y, w, one_class, max_iter, tol, limit):
    """Newton/IRLS for logit(P) = b0 + b1 z, one fit per row g of the (G, n) arrays, rows in parallel.

    ``w`` (G, n) 0/1 row weights (the mask), or a (1, 0) array when every entry counts. Per iteration, one pass
    over the row accumulates the gradient and the 2 x 2 Hessian; a fit whose masked |linear predictor| exceeds
    ``limit`` stops without taking the step (separation). Returns beta (G, 2), converged, runaway, iterations.
    """
    G, n = z.shape
    masked = w.shape[1] > 0
    beta = np.zeros((G, 2))
    converged = np.zeros(G, dtype=np.bool_)
    runaway = np.zeros(G, dtype=np.bool_)
    iterations = np.zeros(G, dtype=np.int64)
    for g in prange(G):
        if one_class[g]:
            continue
        wg = w[g] if masked else w[0]
        b0 = 0.0
        b1 = 0.0
        for it in range(1, max_iter + 1):
            iterations[g] = it
            g0, g1, h00, h01, h11, biggest = _sums(z[g], y[g], wg, 0, n, b0, b1)
            s0, s1 = _newton_step(g0, g1, h00, h01, h11)
            done = max(abs(s0), abs(s1)) < tol * (1.0 + max(abs(b0), abs(b1)))
            if biggest > limit:
                runaway[g] = True
                break
            b0 += s0
            b1 += s1
            if done:
                converged[g] = True
                break
        beta[g, 0] = b0
        beta[g, 1] = b1
    return beta, converged, runaway, iterations


@njit(parallel=True, cache=True)
def logit_irls_one(z, y, w, max_iter, tol, limit, chunks):
    """:func:`logit_irls` for one long group (a pooled fit on millions of rows): the same iteration, each pass
    split into ``chunks`` parts summed in parallel. ``w`` is a (0,) array when every row counts."""
    n = z.size
    b0 = 0.0
    b1 = 0.0
    converged = False
    runaway = False
    it = 0
    size = (n + chunks - 1) // chunks
    for it in range(1, max_iter + 1):
        parts = np.zeros((chunks, 6))
        for c in prange(chunks):
            sums = _sums(z, y, w, c * size, min(n, (c + 1) * size), b0, b1)
            for k in range(6):
                parts[c, k] = sums[k]
        s0, s1 = _newton_step(parts[:, 0].sum(), parts[:, 1].sum(), parts[:, 2].sum(), parts[:, 3].sum(), parts[:, 4].sum())
        done = max(abs(s0), abs(s1)) < tol * (1.0 + max(abs(b0), abs(b1)))
        if parts[:, 5].max() > limit:
            runaway = True
            break
        b0 += s0
        b1 += s1
        if done:
            converged = True
            break
    return b0, b1, converged, runaway, it
