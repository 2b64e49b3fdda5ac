"""frechet_distance against the two reference formulas (written out here with scipy/numpy), and the libraries if importable."""

import numpy as np
import pytest
import scipy.linalg
from reference_imports import import_reference

from janus_eval.metrics.fid import feature_stats, frechet_distance, frechet_distance_from_stats

RTOL = 1e-6


def cleanfid_formula(feats1, feats2, eps=1e-6):
    """clean-fid's fid_from_feats + frechet_distance (HEAD: complex -> real part), without the removed ``disp``."""
    mu1, s1 = np.mean(feats1, axis=0), np.cov(feats1, rowvar=False)
    mu2, s2 = np.mean(feats2, axis=0), np.cov(feats2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def torch_fidelity_formula(feats1, feats2):
    """torch-fidelity 0.4.0's fid_features_to_statistics + fid_statistics_to_metric."""
    mu1, s1 = np.mean(feats1, axis=0), np.cov(feats1, rowvar=False)
    mu2, s2 = np.mean(feats2, axis=0), np.cov(feats2, rowvar=False)
    diff = mu1 - mu2
    tr_covmean = np.sum(np.sqrt(np.linalg.eigvals(s1.dot(s2)).astype("complex128")).real)
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def make_cases(d=48, seed=0):
    rng = np.random.default_rng(seed)
    n = 4 * d
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    a = np.maximum(rng.standard_normal((n, d)) @ mix + 0.3, 0)  # ReLU'd like pool features
    b = np.maximum(rng.standard_normal((n, d)) @ mix + 0.35, 0)
    low = rng.standard_normal((n, d // 6)) @ rng.standard_normal((d // 6, d))
    near = a.copy()
    near[:, 1] = 2 * near[:, 0] + 1e-9 * rng.standard_normal(n)
    return {
        "typical": (a, b),
        "n_less_than_d": (a[: d // 3], b[: d // 2]),
        "rank_deficient": (low, 1.1 * low[::-1] + 0.01),
        "near_singular": (near, b),
        "float32": (a.astype(np.float32), b.astype(np.float32)),
    }


CASES = make_cases()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("method, formula", [("clean-fid", cleanfid_formula), ("torch-fidelity", torch_fidelity_formula)])
def test_matches_reference_formulas(name, method, formula):
    feats1, feats2 = CASES[name]
    ours = frechet_distance(feats1, feats2, method=method)
    expected = formula(feats1, feats2)
    assert np.isfinite(ours)
    assert ours == pytest.approx(expected, rel=RTOL, abs=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_two_methods_agree(name):
    feats1, feats2 = CASES[name]
    assert frechet_distance(feats1, feats2) == pytest.approx(frechet_distance(feats1, feats2, method="torch-fidelity"), rel=1e-6)


def test_identical_sets_give_zero_and_shift_gives_mean_distance():
    a, _ = CASES["typical"]
    assert abs(frechet_distance(a, a.copy())) < 1e-9
    shift = np.linspace(0.0, 0.1, a.shape[1])
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    assert frechet_distance(a, a + shift, method="torch-fidelity") == pytest.approx(float(shift @ shift), rel=1e-6)


def test_symmetric_and_returns_python_float():
    a, b = CASES["typical"]
    value = frechet_distance(a, b)
    assert type(value) is float
    assert value == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_stats_mirror_numpy_and_singular_product_takes_the_eps_path():
    a, b = CASES["float32"]
    mu, sigma = feature_stats(a)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_array_equal(mu, np.mean(a, axis=0).astype(np.float64))  # the libraries' float32 mean
    np.testing.assert_array_equal(sigma, np.cov(a, rowvar=False))
    # An all-zero covariance makes sqrtm's Schur method non-finite; clean-fid then offsets by eps*I.
    zeros = np.zeros((4, 4))
    assert frechet_distance_from_stats(np.ones(4), zeros, np.zeros(4), zeros) == pytest.approx(4.0, abs=1e-5)
    assert frechet_distance_from_stats(np.ones(4), zeros, np.zeros(4), zeros, method="torch-fidelity") == pytest.approx(4.0)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="unknown FID method"):
        frechet_distance(*CASES["typical"], method="pytorch-fid")


def reference_or_skip(module):
    """The library's module, or a skip when the library is not installed (the 'fid' extra; CI installs it).

    clean-fid and torch-fidelity import torchvision, which may be absent or a build that does not import
    here: then they are imported with a stand-in torchvision (``tests/reference_imports.py``); the
    functions compared below never use it.
    """
    library = module.split(".")[0]
    try:
        return import_reference(module)
    except ModuleNotFoundError as err:
        if err.name != library:
            raise
        pytest.skip(f"{library} is not installed; install the 'fid' extra to compare with it")


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")  # inside clean-fid 0.1.35
def test_equal_to_clean_fid_when_installed():
    fid = reference_or_skip("cleanfid.fid")
    compared = []
    for name, (feats1, feats2) in CASES.items():
        ours = frechet_distance(feats1, feats2)
        try:
            expected = float(fid.fid_from_feats(feats1, feats2))
        except ValueError as err:  # clean-fid 0.1.35 raises on a large imaginary part; we (like its HEAD) take the real part
            assert str(err).startswith("Imaginary component"), (name, err)
            assert ours == pytest.approx(cleanfid_formula(feats1, feats2), rel=RTOL), name
            continue
        assert ours == pytest.approx(expected, rel=RTOL), name
        compared.append(name)
    assert {"typical", "float32"} <= set(compared), compared  # full-rank covariances: clean-fid never raises


def test_equal_to_torch_fidelity_when_installed():
    metric_fid = reference_or_skip("torch_fidelity.metric_fid")
    import torch

    for name, (feats1, feats2) in CASES.items():
        stats = [metric_fid.fid_features_to_statistics(torch.from_numpy(np.ascontiguousarray(f))) for f in (feats1, feats2)]
        expected = metric_fid.fid_statistics_to_metric(stats[0], stats[1], verbose=False)[metric_fid.KEY_METRIC_FID]
        assert frechet_distance(feats1, feats2, method="torch-fidelity") == pytest.approx(expected, rel=RTOL), name
