"""How error messages tell a user to fetch something: the command their huggingface_hub provides."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def hf_cli() -> str:
    """``hf`` (huggingface_hub >= 0.34, and what a fresh install gets), else the older ``huggingface-cli``."""
    try:
        from importlib.metadata import version

        parts = version("huggingface_hub").split(".")
        major, minor = int(parts[0]), int(parts[1])
    except Exception:  # noqa: BLE001 - not installed or an odd version string: a new install gives `hf`
        return "hf"
    return "hf" if (major, minor) >= (0, 34) else "huggingface-cli"


def hf_download(repo: str, local_dir: str, dataset: bool = False) -> str:
    """The download command line for ``repo`` into ``local_dir``, in backticks."""
    kind = " --repo-type dataset" if dataset else ""
    return f"`{hf_cli()} download {repo}{kind} --local-dir {local_dir}`"
