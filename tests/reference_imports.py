"""Import clean-fid / torch-fidelity for their Frechet-distance functions where torchvision does not import.

Both libraries import torchvision at module level (for their image pipelines and feature extractors),
but the functions the FID parity tests call (``cleanfid.fid.fid_from_feats``,
``torch_fidelity.metric_fid.fid_features_to_statistics`` / ``fid_statistics_to_metric``) are numpy and
torch only. PyPI's torchvision for the CPU torch we pin is a CUDA build that does not import
("operator torchvision::nms does not exist"), and CI uninstalls it. Where the real torchvision does not
import, ``import_reference`` imports the library with a stand-in ``torchvision`` (every submodule and
attribute exists, classes can be subclassed, nothing runs) and removes the stand-in at once, so the rest
of the session never sees it. Code that really uses torchvision (their image pipelines, feature
extractors) would fail loudly on the stand-in; the parity tests do not call it.

``python tests/reference_imports.py MODULE...`` exits non-zero when a module cannot be imported this way:
CI runs it so the parity tests cannot silently skip.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STAND_IN_VERSION = "0.0.0+stand-in"


class _AnyMeta(type):
    """Classes whose missing attributes are further stand-in classes (``torchvision.models.inception.InceptionA``)."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _stand_in_class(f"{cls.__qualname__}.{name}")


def _stand_in_class(name: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        pass

    return _AnyMeta(name, (), {"__init__": __init__})


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``torchvision`` and every ``torchvision.*`` as an empty package with stand-in attributes."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__path__ = []  # a package: any submodule imports

        def attribute(name: str) -> Any:  # PEP 562: only for names the module does not have
            if name == "__version__":
                return STAND_IN_VERSION
            if name.startswith("__"):
                raise AttributeError(name)
            return _stand_in_class(f"{spec.name}.{name}")

        module.__getattr__ = attribute  # type: ignore[method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def _is_torchvision(name: str) -> bool:
    return name == "torchvision" or name.startswith("torchvision.")


def torchvision_problem() -> str | None:
    """Why ``import torchvision`` fails here (None when it imports)."""
    try:
        import torchvision  # noqa: F401
    except Exception as error:  # ImportError, or a mismatched build's RuntimeError/OSError
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return None


@contextmanager
def stand_in_torchvision() -> Iterator[None]:
    """While active, ``import torchvision...`` gives the stand-in; afterwards sys.modules is as before."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _is_torchvision(name)}
    finder = _StandInFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if _is_torchvision(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def import_reference(module: str) -> types.ModuleType:
    """``module`` of an installed reference library, through the stand-in when torchvision does not import.

    Raises ModuleNotFoundError when the library itself is not installed.
    """
    if module in sys.modules or importlib.util.find_spec(module.split(".")[0]) is None:
        return importlib.import_module(module)  # already imported, or a clear ModuleNotFoundError
    if torchvision_problem() is None:
        return importlib.import_module(module)
    with stand_in_torchvision():
        return importlib.import_module(module)


def main(modules: list[str]) -> int:
    failed = 0
    for module in modules:
        try:
            import_reference(module)
        except Exception as error:
            print(f"{module} does not import ({type(error).__name__}: {error}): its parity tests would skip", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
