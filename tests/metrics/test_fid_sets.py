"""``fid_between``: the whole sets and each named subset give the FID of their features; thin subsets are left out."""

import pytest

from image_writers import write_images
from janus_eval.metrics import fid_images, inception
from janus_eval.metrics.fid import frechet_distance
from janus_eval.metrics.fid_sets import fid_between

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # clean-fid's file is TorchScript


def test_fid_between_sets_and_subsets_matches_the_features(tmp_path, tiny_weights):
    extractor, protocol = inception.load_inception(tiny_weights), fid_images.CLEANFID_DEFAULT
    generated = write_images(tmp_path / "gen", 5, seed=1)
    reference = write_images(tmp_path / "real", 6, seed=2)
    subsets = {"a": ([0, 1, 2], [0, 1, 2, 3]), "thin": ([3], [4, 5]), "no-real": ([3, 4], [5])}

    result = fid_between(generated, reference, extractor, protocol, tmp_path / "run", tmp_path, subsets, workers=0)

    gen = fid_images.image_features(generated, extractor, protocol, workers=0)
    ref = fid_images.image_features(reference, extractor, protocol, workers=0)
    assert (result.n_generated, result.n_reference) == (5, 6)
    assert result.fid == pytest.approx(frechet_distance(gen, ref), rel=1e-9)
    assert list(result.subsets) == ["a"]  # "thin": 1 generated image; "no-real": 1 real image
    assert result.subsets["a"] == pytest.approx(frechet_distance(gen[[0, 1, 2]], ref[[0, 1, 2, 3]]), rel=1e-9)
