"""Image files -> network input -> features: order, batch size and worker processes change nothing; clean errors."""

import numpy as np
import pytest

from image_writers import write_images
from janus_eval.errors import JanusEvalError
from janus_eval.metrics import fid_images, inception

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # clean-fid's file is TorchScript


@pytest.mark.parametrize("protocol", [fid_images.GIGAGAN_COCO, fid_images.CLEANFID_DEFAULT])
def test_image_features_do_not_depend_on_batch_size(tmp_path, tiny_weights, protocol):
    extractor = inception.load_inception(tiny_weights)
    paths = write_images(tmp_path / "img", 5) + write_images(tmp_path / "img2", 2, size=(30, 50), seed=1)
    one = fid_images.image_features(paths, extractor, protocol, batch_size=1)
    many = fid_images.image_features(paths, extractor, protocol, batch_size=4, workers=3)
    assert one.shape == (7, 16)
    np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-6)




@pytest.mark.parametrize("protocol", [fid_images.GIGAGAN_COCO, fid_images.CLEANFID_DEFAULT])
def test_worker_processes_change_nothing(tmp_path, tiny_weights, protocol):
    """Preprocessing in 2 worker processes gives the same network inputs, in the same order, as in-process."""
    extractor = inception.load_inception(tiny_weights)
    paths = write_images(tmp_path / "img", 7) + write_images(tmp_path / "img2", 3, size=(50, 30), seed=1)
    batches = {w: list(fid_images.prepared_batches(paths, protocol, "clean-fid", 4, w)) for w in (0, 2)}
    assert [len(b) for b in batches[0]] == [4, 4, 2] == [len(b) for b in batches[2]]
    for serial, parallel in zip(batches[0], batches[2]):
        assert all(np.array_equal(a, b) and a.dtype == b.dtype == np.float32 for a, b in zip(serial, parallel))
    serial_feats = fid_images.image_features(paths, extractor, protocol, batch_size=4, workers=0)
    np.testing.assert_array_equal(fid_images.image_features(paths, extractor, protocol, batch_size=4, workers=2),
                                  serial_feats)  # fmt: skip


def test_unreadable_image_in_a_worker_is_one_clear_error(tmp_path, tiny_weights):
    extractor = inception.load_inception(tiny_weights)
    paths = write_images(tmp_path / "img", 3)
    paths[1].write_bytes(b"not an image")
    with pytest.raises(JanusEvalError, match=r"^cannot read image .*001.png for FID"):
        fid_images.image_features(paths, extractor, fid_images.CLEANFID_DEFAULT, batch_size=2, workers=2)



def test_folder_images_globs_like_clean_fid(tmp_path, tiny_weights):
    for rel in ("b/2.jpg", "a/1.JPG", "a/3.png", "c.jpeg", "notes.txt", "x.Jpg", ".hidden.jpg", ".cache/4.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in fid_images.folder_images(tmp_path)]
    assert found == ["a/1.JPG", "a/3.png", "b/2.jpg", "c.jpeg"]
    with pytest.raises(JanusEvalError, match="does not exist"):
        fid_images.folder_images(tmp_path / "missing")
