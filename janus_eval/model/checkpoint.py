"""Read Janus checkpoints from local directories and detect their format.

Formats: the Hugging Face ``JanusForConditionalGeneration`` layout (``model_type: janus``), the
original DeepSeek Janus-1.3B release (``model_type: multi_modality`` + ``model.safetensors``) and the
original Janus-Pro release (``pytorch_model.bin``). Attention is always sdpa: the original config's
``flash_attention_2`` is never honoured implicitly.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from transformers import AutoTokenizer, JanusForConditionalGeneration, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from janus_eval.hints import hf_download
from janus_eval.errors import JanusEvalError

FETCH_HINT = (
    f"download a Janus checkpoint (e.g. {hf_download('deepseek-ai/Janus-1.3B', 'PATH')}) and pass its local directory"
)


def detect_format(path: Path) -> str:
    if not path.exists():
        raise JanusEvalError(f"checkpoint {path} does not exist; {FETCH_HINT}")
    config_file = path / "config.json"
    if not path.is_dir() or not config_file.is_file():
        raise JanusEvalError(f"checkpoint {path} is not a directory with a config.json; {FETCH_HINT}")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except json.JSONDecodeError as err:
        raise JanusEvalError(f"{config_file} is not valid JSON: {err}") from err
    if model_type == "janus":
        return "hf"
    if model_type == "multi_modality":
        return "original"
    raise JanusEvalError(f"checkpoint {path} has model_type {model_type!r}, not a Janus model (janus or multi_modality)")


def detect_variant(path: Path, fmt: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """Janus-Pro chats with ``<|User|>`` roles, 1.3B with ``User``.

    Original releases tell them apart by their weight file (1.3B: model.safetensors, Pro:
    pytorch_model.bin); converted ones by the chat template. A ``janus_eval_variant`` entry in
    config.json overrides both.
    """
    declared = json.loads((path / "config.json").read_text()).get("janus_eval_variant")
    if declared:
        return declared
    if fmt == "original":
        return "janus-pro" if list(path.glob("pytorch_model*.bin")) else "janus"
    template = getattr(tokenizer, "chat_template", None) or ""
    return "janus-pro" if "<|User|>" in template else "janus"


def weight_files(path: Path) -> list[Path]:
    """The checkpoint's weight files (safetensors shards, else torch .bin shards); none is an error."""
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))
    if not files:
        raise JanusEvalError(f"checkpoint {path} has a config.json but no model.safetensors or pytorch_model.bin; {FETCH_HINT}")
    return files


def check_weight_files(path: Path) -> None:
    """Fail in one line on an empty, truncated or foreign weight file, or on a config.json whose sizes do not
    match the weights, before transformers reads them (and before anything is written to a run's --out).

    Both layouts, both file kinds: safetensors shapes come from the header, ``.bin`` shapes from the
    pickle alone (memory-mapped onto the meta device, no tensor data read)."""
    stored: dict[str, tuple[Path, list[int]]] = {}
    for file in weight_files(path):
        if file.stat().st_size == 0:
            raise JanusEvalError(f"weight file {file} is empty; fetch the checkpoint again")
        shapes = _header_shapes(file) if file.suffix == ".safetensors" else _pickle_shapes(file)
        stored.update({name: (file, shape) for name, shape in shapes.items()})
    expected = _expected_shapes(path)
    for name, (file, shape) in sorted(stored.items()):
        if name in expected and shape != expected[name]:
            raise JanusEvalError(
                f"checkpoint {path}: config.json and the weights disagree: {name} is {shape} in "
                f"{file.name} but config.json makes it {expected[name]}; use the config.json that came with these weights"
            )


def _header_shapes(file: Path) -> dict[str, list[int]]:
    header = _safetensors_header(file)
    return {name: list(info.get("shape", [])) for name, info in header.items() if name != "__metadata__" and isinstance(info, dict)}


def _pickle_shapes(file: Path) -> dict[str, list[int]]:
    """A torch ``.bin``'s tensor shapes without reading its data (the zip format every release uses)."""
    import torch

    try:
        state = torch.load(file, map_location="meta", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - zip, pickle and unpickler errors alike mean an unreadable file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise JanusEvalError(f"weight file {file} is not a readable torch checkpoint ({reason[:120]}); fetch the checkpoint again") from err
    if not isinstance(state, dict):
        raise JanusEvalError(f"weight file {file} holds a {type(state).__name__}, not a state dict; fetch the checkpoint again")
    return {name: list(tensor.shape) for name, tensor in state.items() if isinstance(tensor, torch.Tensor)}


def _safetensors_header(file: Path) -> dict[str, Any]:
    """The header, once it parses and every tensor's byte range lies inside the file (a cut download does not)."""
    import struct

    size = file.stat().st_size
    problem, header = None, {}
    with open(file, "rb") as handle:
        head = handle.read(8)
        header_len = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if header_len < 2 or 8 + header_len > size:
            problem = "its header is cut or not a safetensors header"
        else:
            try:
                header = json.loads(handle.read(header_len).decode("utf-8"))
                end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
            except (ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError, AttributeError):
                problem = "its header is not valid safetensors JSON"
            else:
                if 8 + header_len + end > size:
                    problem = f"it is truncated ({size} of {8 + header_len + end} bytes)"
    if problem:
        raise JanusEvalError(f"weight file {file} is not a readable safetensors file: {problem}; fetch the checkpoint again")
    return header


def _expected_shapes(path: Path) -> dict[str, list[int]]:
    """Each tensor's shape in the model config.json describes, under the names this checkpoint's layout uses.

    The model is built on the meta device (no memory, about a second even for 7B). Tensors the model does
    not know are left to the loader (transformers renames some; the original layout's loader lists them),
    so only a size the config gets wrong is reported here.
    """
    import torch
    from transformers import JanusConfig
    from transformers.initialization import no_init_weights

    from janus_eval.model.original_format import config_from_original, original_shapes

    original = detect_format(path) == "original"
    try:
        with quiet_transformers():
            if original:  # the image token's id does not change a shape
                config = config_from_original(json.loads((path / "config.json").read_text()), image_token_id=0)
            else:
                config = JanusConfig.from_pretrained(path, local_files_only=True)
            with torch.device("meta"), no_init_weights():
                shapes = {k: list(v.shape) for k, v in JanusForConditionalGeneration(config).state_dict().items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise JanusEvalError(f"checkpoint {path}: config.json does not describe a Janus model ({reason})") from err
    return original_shapes(shapes) if original else shapes


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings off for the block: its load report, config notes and the warning ``generate``
    prints on every call about arguments it sets itself are not for our users."""
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def load_checkpoint(path: Path) -> tuple[JanusForConditionalGeneration, PreTrainedTokenizerBase, str]:
    fmt = detect_format(path)
    check_weight_files(path)
    try:
        with quiet_transformers():  # AutoTokenizer warns about the unknown multi_modality config
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise JanusEvalError(f"checkpoint {path} has no usable tokenizer files: {err}") from err
    try:
        if fmt == "original":
            from janus_eval.model.original_format import load_original

            image_token_id = tokenizer.convert_tokens_to_ids("<image_placeholder>")
            model = load_original(path, image_token_id=image_token_id, files=weight_files(path))
        else:
            with quiet_transformers():  # a size mismatch would print a many-line load report before raising
                model = JanusForConditionalGeneration.from_pretrained(path, attn_implementation="sdpa", local_files_only=True)
    except JanusEvalError:
        raise
    except Exception as err:  # noqa: BLE001 - a corrupt .bin (pickle/zip errors) or a shard transformers rejects
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        advice = "its config.json and weights disagree" if "mismatch" in reason else "fetch it again"
        raise JanusEvalError(f"checkpoint {path} could not be loaded ({type(err).__name__}: {reason}); {advice}") from err
    return model, tokenizer, detect_variant(path, fmt, tokenizer)
