"""Read Janus checkpoints from local directories and detect their format.

Formats: the Hugging Face ``JanusForConditionalGeneration`` layout (``model_type: janus``), the
original DeepSeek Janus-1.3B release (``model_type: multi_modality`` + ``model.safetensors``) and the
original Janus-Pro release (``pytorch_model.bin``). Attention is always sdpa: the original config's
``flash_attention_2`` is never honoured implicitly.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer, JanusForConditionalGeneration, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from janus_eval.task import JanusEvalError

FETCH_HINT = (
    "download a Janus checkpoint (e.g. `huggingface-cli download deepseek-ai/Janus-1.3B --local-dir PATH`) "
    "and pass its local directory"
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


def load_checkpoint(path: Path) -> tuple[JanusForConditionalGeneration, PreTrainedTokenizerBase, str]:
    fmt = detect_format(path)
    try:
        previous = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # AutoTokenizer warns about the unknown multi_modality config
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        finally:
            hf_logging.set_verbosity(previous)
    except (OSError, ValueError) as err:
        raise JanusEvalError(f"checkpoint {path} has no usable tokenizer files: {err}") from err
    if fmt == "original":
        from janus_eval.model.original_format import load_original

        model = load_original(path, image_token_id=tokenizer.convert_tokens_to_ids("<image_placeholder>"))
    else:
        model = JanusForConditionalGeneration.from_pretrained(path, attn_implementation="sdpa", local_files_only=True)
    return model, tokenizer, detect_variant(path, fmt, tokenizer)
