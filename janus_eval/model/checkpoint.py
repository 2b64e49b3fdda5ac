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


def detect_variant(tokenizer: PreTrainedTokenizerBase, path: Path) -> str:
    """Janus-Pro checkpoints chat with ``<|User|>`` roles; 1.3B with ``User``."""
    template = getattr(tokenizer, "chat_template", None) or ""
    return "janus-pro" if "<|User|>" in template or "pro" in path.name.lower() else "janus"


def load_checkpoint(path: Path) -> tuple[JanusForConditionalGeneration, PreTrainedTokenizerBase, str]:
    fmt = detect_format(path)
    if fmt != "hf":
        raise JanusEvalError(
            f"checkpoint {path} is in the original DeepSeek format, which is not supported yet; "
            "convert it to the transformers Janus format first"
        )
    model = JanusForConditionalGeneration.from_pretrained(path, attn_implementation="sdpa", local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tokenizer, detect_variant(tokenizer, path)
