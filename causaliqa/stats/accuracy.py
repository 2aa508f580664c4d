"""A task model's accuracy on images without labels, predicted from scores: the quality prior and its anchors.

Every method turns labelled *reference* rows (score, correctness) and unlabelled *target* rows (score) into a
predicted accuracy of the target, and every one takes row weights, so one call evaluates many bootstrap resamples
(a resample of image ids is a vector of draw counts per row):

* ``logistic``: the paper's P(M | Q), a logistic regression fitted on the reference (one or several scores,
  standardised by the reference), averaged over the target's rows.
* ``isotonic``: a monotone P(M | Q) (scikit-learn's isotonic regression, increasing or decreasing as Q correlates with
  M on the reference), clipped to the reference's range of Q.
* ``AC``: average confidence, the mean of the task model's max softmax probability on the target.
* ``DoC``: difference of confidences (Guillory et al. 2021): reference accuracy + (target AC - reference AC).
* ``ATC``: average thresholded confidence (Garg et al. 2022): the threshold t on a confidence score (max probability
  "MC", or negative entropy "NE") at which the share of reference rows scoring above t equals the reference accuracy;
  the prediction is the share of target rows above t.

The logistic and isotonic priors assume that P(M | Q) is the same on reference and target (a shift of the
images that Q sees); AC assumes a calibrated model; DoC and ATC assume that the shift moves confidence and accuracy
together. None holds in general; ``causaliqa predict --evaluate`` measures each on shifts it has not seen.
"""

from __future__ import annotations

import numpy as np

from causaliqa.stats.logistic import fit_logit_batched


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B,) weighted means of ``values`` (n,) or (B, n) under (B, n) weights."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights * values).sum(-1) / weights.sum(-1)


def standardise(q_ref: np.ndarray, q_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both in units of the reference's mean and standard deviation (per column)."""
    mean, sd = q_ref.mean(0), q_ref.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (q_ref - mean) / sd, (q_target - mean) / sd


def logistic_probabilities(q_ref: np.ndarray, m_ref: np.ndarray, q_target: np.ndarray, w_ref: np.ndarray) -> np.ndarray:
    """(B, n_target) P(M = 1 | Q) on the target from the logistic fit on each weighting of the reference.

    One score: batched Newton over the resamples (:func:`fit_logit_batched`); several: Newton with all scores at once.
    A separated fit (a score that splits M perfectly) keeps its last finite iterate, as the point-wise AUC does."""
    q_ref, q_target = (np.asarray(a, dtype=np.float64) for a in (q_ref, q_target))
    q_ref, q_target = q_ref.reshape(len(q_ref), -1), q_target.reshape(len(q_target), -1)
    z_ref, z_target = standardise(q_ref, q_target)
    w_ref = np.atleast_2d(w_ref).astype(np.float64)
    if z_ref.shape[1] == 1:
        B, n = w_ref.shape
        X = np.stack([np.ones((B, n)), np.broadcast_to(z_ref[:, 0], (B, n))], -1)
        fit = fit_logit_batched(X, np.broadcast_to(m_ref, (B, n)), w_ref)
        coef = np.where(np.isfinite(fit.coef), fit.coef, fit.last)
        eta = coef[:, :1] + coef[:, 1:] * z_target[:, 0][None, :]
    else:
        design_ref = np.column_stack([np.ones(len(z_ref)), z_ref])
        design_target = np.column_stack([np.ones(len(z_target)), z_target])
        coef = np.stack([_newton(design_ref, m_ref, w) for w in w_ref])
        eta = coef @ design_target.T
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -700, 700)))


def _newton(X: np.ndarray, y: np.ndarray, w: np.ndarray, iterations: int = 50, ridge: float = 1e-8) -> np.ndarray:
    """Weighted logistic regression by Newton's method; a tiny ridge keeps a separated fit finite."""
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -30, 30)))
        gradient = X.T @ (w * (y - p)) - ridge * beta
        hessian = (X * (w * p * (1 - p))[:, None]).T @ X + ridge * np.eye(X.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def isotonic_probabilities(q_ref: np.ndarray, m_ref: np.ndarray, q_target: np.ndarray, w_ref: np.ndarray) -> np.ndarray:
    """(B, n_target) a monotone P(M = 1 | Q) fitted on each weighting of the reference (one score)."""
    from sklearn.isotonic import IsotonicRegression

    q_ref, q_target = np.asarray(q_ref, dtype=np.float64).ravel(), np.asarray(q_target, dtype=np.float64).ravel()
    w_ref = np.atleast_2d(w_ref).astype(np.float64)
    increasing = bool(np.corrcoef(q_ref, m_ref)[0, 1] >= 0) if np.std(q_ref) > 0 and np.std(m_ref) > 0 else True
    out = np.empty((len(w_ref), len(q_target)))
    for b, w in enumerate(w_ref):
        keep = w > 0
        model = IsotonicRegression(increasing=increasing, out_of_bounds="clip", y_min=0.0, y_max=1.0)
        model.fit(q_ref[keep], m_ref[keep], sample_weight=w[keep])
        out[b] = model.predict(q_target)
    return out


def atc_threshold(score_ref: np.ndarray, m_ref: np.ndarray, w_ref: np.ndarray | None = None) -> np.ndarray:
    """ATC's threshold per weighting: among the candidate thresholds (-inf and every reference score), the one at which
    the weighted share of reference rows scoring strictly above it is closest to the weighted reference accuracy
    (the largest such threshold on a tie)."""
    score_ref = np.asarray(score_ref, dtype=np.float64)
    w = np.ones((1, len(score_ref))) if w_ref is None else np.atleast_2d(w_ref).astype(np.float64)
    order = np.argsort(score_ref, kind="stable")
    s, w_sorted = score_ref[order], w[:, order]
    accuracy = _weighted_mean(np.asarray(m_ref, dtype=np.float64), w)
    total = w_sorted.sum(1, keepdims=True)
    # candidates: -inf (all rows above) and each distinct score t (rows above t: those with a larger score)
    distinct = np.r_[np.flatnonzero(np.diff(s)) , len(s) - 1]  # last index of each distinct value
    above = total - np.cumsum(w_sorted, 1)[:, distinct]  # weight strictly above each distinct value
    shares = np.concatenate([np.ones((len(w), 1)), above / total], 1)
    candidates = np.r_[-np.inf, s[distinct]]
    gap = np.abs(shares - accuracy[:, None])
    best = gap.shape[1] - 1 - np.argmin(gap[:, ::-1], 1)  # the largest threshold among the closest
    return candidates[best]


def atc_predict(threshold: np.ndarray, score_target: np.ndarray, w_target: np.ndarray) -> np.ndarray:
    """(B,) the weighted share of target rows scoring above each resample's threshold."""
    above = np.asarray(score_target, dtype=np.float64)[None, :] > np.atleast_1d(threshold)[:, None]
    return _weighted_mean(above.astype(np.float64), np.atleast_2d(w_target))


def average_confidence(conf_target: np.ndarray, w_target: np.ndarray) -> np.ndarray:
    return _weighted_mean(np.asarray(conf_target, dtype=np.float64), np.atleast_2d(w_target))


def difference_of_confidences(conf_ref: np.ndarray, m_ref: np.ndarray, conf_target: np.ndarray, w_ref: np.ndarray,
                              w_target: np.ndarray) -> np.ndarray:
    """Reference accuracy + (target AC - reference AC), clipped to [0, 1]."""
    accuracy = _weighted_mean(np.asarray(m_ref, dtype=np.float64), np.atleast_2d(w_ref))
    shift = average_confidence(conf_target, w_target) - average_confidence(conf_ref, w_ref)
    return np.clip(accuracy + shift, 0.0, 1.0)


def id_weights(codes: np.ndarray, n_boot: int, rng: np.random.Generator, data: bool = True) -> np.ndarray:
    """Row weights: (with ``data``) a first row of ones (the data itself), then ``n_boot`` image-id bootstrap draw
    counts (all rows of an image move together)."""
    codes = np.asarray(codes)
    n_ids = int(codes.max()) + 1 if codes.size else 0
    counts = np.stack([np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids) for _ in range(n_boot)]) if n_boot else np.zeros((0, n_ids))
    rows = counts[:, codes].astype(np.float64)
    return np.concatenate([np.ones((1, codes.size)), rows], 0) if data else rows
