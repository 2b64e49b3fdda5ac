"""The stand-in torchvision that lets the FID parity tests import clean-fid / torch-fidelity without a working one."""

import sys

from reference_imports import STAND_IN_VERSION, main, stand_in_torchvision


def _torchvision_modules() -> dict:
    return {name: module for name, module in sys.modules.items() if name.split(".")[0] == "torchvision"}


def test_stand_in_serves_any_import_and_leaves_no_trace():
    before = _torchvision_modules()
    with stand_in_torchvision():
        import torchvision
        import torchvision.models.inception as inception
        import torchvision.transforms.functional as F  # noqa: F401
        from torchvision.datasets import CIFAR10  # noqa: F401
        from torchvision.models.utils import load_state_dict_from_url  # noqa: F401

        class Block(inception.InceptionA):  # clean-fid subclasses torchvision's Inception blocks at import
            pass

        Block(192, pool_features=32)
        assert torchvision.__version__ == STAND_IN_VERSION
        assert torchvision.transforms.ToTensor() is not None
    assert _torchvision_modules() == before


def test_check_fails_for_a_library_that_is_not_installed(capsys):
    assert main(["json"]) == 0
    assert main(["json", "no_such_reference_library"]) == 1
    assert "no_such_reference_library does not import" in capsys.readouterr().err
