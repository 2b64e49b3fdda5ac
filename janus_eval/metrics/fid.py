"""Frechet distance between two feature sets, as clean-fid and torch-fidelity compute it.

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), with mu the feature mean and S
``np.cov(feats, rowvar=False)`` (unbiased, N - 1). The libraries differ only in the trace of the
matrix square root, and both are available here:

- ``method="clean-fid"`` (default; the COCO-30K and MJHQ-30K protocols run clean-fid):
  ``scipy.linalg.sqrtm(S1 @ S2)``; when the result has a non-finite entry (singular product) the
  square root is retaken of ``(S1 + eps I)(S2 + eps I)`` with eps = 1e-6; a complex result keeps its
  real part. That is clean-fid's GitHub HEAD; the 0.1.35 wheel instead raises when a diagonal
  imaginary part exceeds 1e-3, which we never do (a harness must not crash on N < D). clean-fid
  passes ``disp=False`` to ``sqrtm``, an argument SciPy 1.18 removes; we call it without.
- ``method="torch-fidelity"``: sum of the real parts of the complex square roots of the
  eigenvalues of ``S1 @ S2`` (torch-fidelity 0.4.0); never needs an offset.

Statistics mirror the libraries' ``np.mean(feats, axis=0)`` / ``np.cov(feats, rowvar=False)``: the
mean is accumulated in the features' own dtype (float32 for Inception features, as both libraries
do) and then widened to float64; the covariance is float64 (``np.cov`` promotes). Measured on
float32 features, N = 30,000, D = 2048: 9e-11 relative from both libraries (a float64 mean: 3e-8).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import scipy.linalg

Method = Literal["clean-fid", "torch-fidelity"]
METHODS: tuple[str, ...] = ("clean-fid", "torch-fidelity")
CLEANFID_EPS = 1e-6


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] of ``feats`` [N, D] as float64, computed as the libraries do."""
    feats = np.asarray(feats)
    if feats.ndim != 2:
        raise ValueError(f"features must be a [N, D] array, got shape {feats.shape}")
    if feats.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 feature vectors per set, got {feats.shape[0]}")
    if not np.issubdtype(feats.dtype, np.floating):
        feats = feats.astype(np.float64)
    return np.mean(feats, axis=0).astype(np.float64), np.cov(feats, rowvar=False)


def _trace_sqrt_product_cleanfid(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """tr((S1 S2)^(1/2)) by the Schur-method matrix square root, with clean-fid's eps fallback."""
    with warnings.catch_warnings():  # "matrix is singular" is expected when N < D; the result is checked below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(np.trace(covmean))


def _trace_sqrt_product_eig(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) as the sum of real parts of the eigenvalues' principal square roots."""
    eigenvalues = np.linalg.eigvals(sigma1.dot(sigma2)).astype(np.complex128)
    return float(np.sum(np.sqrt(eigenvalues).real))


def frechet_distance_from_stats(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    method: Method = "clean-fid",
    eps: float = CLEANFID_EPS,
) -> float:
    """FID from two (mean, covariance) pairs; see the module docstring for ``method``."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"mean vectors differ in shape: {mu1.shape} vs {mu2.shape}")
    if sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"covariances must both be {mu1.shape[0]}x{mu1.shape[0]}, got {sigma1.shape} and {sigma2.shape}")
    if method == "clean-fid":
        tr_covmean = _trace_sqrt_product_cleanfid(sigma1, sigma2, eps)
    elif method == "torch-fidelity":
        tr_covmean = _trace_sqrt_product_eig(sigma1, sigma2)
    else:
        raise ValueError(f"unknown FID method {method!r}; expected one of: {', '.join(METHODS)}")
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance(feats1: np.ndarray, feats2: np.ndarray, method: Method = "clean-fid") -> float:
    """FID between two feature sets [N1, D] and [N2, D] (clean-fid's ``fid_from_feats``)."""
    feats1, feats2 = np.asarray(feats1), np.asarray(feats2)
    if feats1.ndim != 2 or feats2.ndim != 2 or feats1.shape[1] != feats2.shape[1]:
        raise ValueError(f"feature sets must be [N, D] with the same D, got {feats1.shape} and {feats2.shape}")
    mu1, sigma1 = feature_stats(feats1)
    mu2, sigma2 = feature_stats(feats2)
    return frechet_distance_from_stats(mu1, sigma1, mu2, sigma2, method=method)


def frechet_distance_to_stats(feats: np.ndarray, mu: np.ndarray, sigma: np.ndarray, method: Method = "clean-fid") -> float:
    """FID between a feature set [N, D] and precomputed reference statistics (clean-fid's ``fid_from_feats``
    with the second set's ``feature_stats`` already taken: the same numbers)."""
    feats = np.asarray(feats)
    if feats.ndim != 2 or feats.shape[1] != np.shape(mu)[-1]:
        raise ValueError(f"features must be [N, {np.shape(mu)[-1]}], got {feats.shape}")
    mu1, sigma1 = feature_stats(feats)
    return frechet_distance_from_stats(mu1, sigma1, mu, sigma, method=method)
