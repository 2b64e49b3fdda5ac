"""OpenAI CLIP checkpoints (``ViT-L-14.pt``, open_clip state dicts) <-> transformers' ``CLIPModel``.

GenEval's colour classifier is open_clip's ``ViT-L-14`` with ``pretrained="openai"``, i.e. OpenAI's own
``ViT-L-14.pt`` (a TorchScript archive of fp16 tensors). open_clip imports torchvision, which has no CPU
build for our torch; this module instead loads that very file (or a plain state dict with the same key
names, as ``torch.save(open_clip_model.state_dict())`` writes) into transformers' ``CLIPModel`` with an
explicit, strict key mapping. Strict means: every checkpoint tensor is consumed, every model tensor is
filled, and every shape is checked; anything else is a ``JanusEvalError`` naming the offending keys.
The only tensors skipped are OpenAI's scalar ``input_resolution`` / ``context_length`` / ``vocab_size``
(metadata that OpenAI's own loader drops too); they are checked against the derived config.

Layout differences handled here (everything else is a rename):

- attention: OpenAI/open_clip use ``nn.MultiheadAttention`` with a fused q/k/v ``in_proj``;
  transformers has three linears (``split3`` along dim 0, q then k then v).
- projections: ``visual.proj`` and ``text_projection`` are ``[width, embed]`` matrices applied as
  ``x @ proj``; transformers' bias-free linears store the transpose.
- the config is derived from tensor shapes as OpenAI's ``build_model`` does (heads = width // 64,
  QuickGELU activations).

The tokenizer for a ``.pt`` file is CLIP's BPE vocabulary ``bpe_simple_vocab_16e6.txt.gz``, turned into a
transformers ``CLIPTokenizer`` with the vocabulary CLIP's ``SimpleTokenizer`` derives from it (same ids).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from janus_eval.metrics.strict_mapping import convert_links, raise_misfits
from janus_eval.errors import JanusEvalError

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
#: CLIP's SimpleTokenizer keeps the first 49152 - 256 - 2 merges (after the version header line).
BPE_MERGES = 49152 - 256 - 2
#: Scalar metadata in OpenAI's TorchScript archives, not model tensors; value -> config check.
OPENAI_METADATA = ("input_resolution", "context_length", "vocab_size")


# -- config from shapes ------------------------------------------------------------------------
def _layer_count(state: dict[str, torch.Tensor], prefix: str) -> int:
    """Number of residual blocks under ``prefix`` (highest index + 1; gaps surface as missing keys)."""
    heads = (key[len(prefix) :].split(".")[0] for key in state if key.startswith(prefix))
    indices = {int(head) for head in heads if head.isdigit()}
    return max(indices) + 1 if indices else 0


def _shape(state: dict[str, torch.Tensor], key: str, dims: int, source: str) -> tuple[int, ...]:
    if key not in state:
        raise JanusEvalError(f"{source} is not an OpenAI CLIP checkpoint: missing OpenAI CLIP key {key}")
    shape = tuple(state[key].shape)
    if len(shape) != dims:
        raise JanusEvalError(
            f"{source} is not an OpenAI CLIP checkpoint: {key} has shape {shape}, expected {dims} dims"
        )
    return shape


def clip_config_from_state_dict(state: dict[str, torch.Tensor], source: str = "checkpoint") -> Any:
    """A transformers ``CLIPConfig`` for the OpenAI-layout ``state`` (as OpenAI's ``build_model`` reads shapes)."""
    from transformers import CLIPConfig

    vision_width, _, patch, _ = _shape(state, "visual.conv1.weight", 4, source)
    positions = _shape(state, "visual.positional_embedding", 2, source)[0]
    grid = round((positions - 1) ** 0.5)
    if grid * grid + 1 != positions:
        raise JanusEvalError(f"{source}: visual.positional_embedding has {positions} rows, not a square grid + 1")
    vocab, text_width = _shape(state, "token_embedding.weight", 2, source)
    context = _shape(state, "positional_embedding", 2, source)[0]
    projection = _shape(state, "text_projection", 2, source)[1]
    vision_layers = _layer_count(state, "visual.transformer.resblocks.")
    text_layers = _layer_count(state, "transformer.resblocks.")
    if not vision_layers or not text_layers:
        raise JanusEvalError(f"{source} is not an OpenAI CLIP checkpoint: no visual/text transformer.resblocks")
    vision_mlp = _shape(state, "visual.transformer.resblocks.0.mlp.c_fc.weight", 2, source)[0]
    text_mlp = _shape(state, "transformer.resblocks.0.mlp.c_fc.weight", 2, source)[0]
    text = {
        "vocab_size": vocab, "hidden_size": text_width, "intermediate_size": text_mlp, "num_hidden_layers": text_layers,
        "num_attention_heads": max(text_width // 64, 1), "max_position_embeddings": context, "hidden_act": "quick_gelu",
        "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1,
    }  # fmt: skip
    vision = {
        "hidden_size": vision_width, "intermediate_size": vision_mlp, "num_hidden_layers": vision_layers,
        "num_attention_heads": max(vision_width // 64, 1), "image_size": patch * grid, "patch_size": patch,
        "hidden_act": "quick_gelu",
    }  # fmt: skip
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection)


def is_vit_l14(config: Any) -> bool:
    """OpenAI's ViT-L/14 at 224 px: the only shapes that can be GenEval's official colour classifier."""
    vision = config.vision_config
    return vision.num_hidden_layers == 24 and vision.patch_size == 14 and vision.image_size == 224


# -- the mapping -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Link:
    """One OpenAI tensor and the transformers tensor(s) it becomes."""

    openai: str
    hf: tuple[str, ...]
    kind: str = "copy"  # "copy" | "split3" (fused q/k/v along dim 0) | "transpose" (x @ W -> Linear)


def _to_hf(link: _Link, tensor: torch.Tensor) -> list[torch.Tensor]:
    if link.kind == "split3":
        return list(tensor.chunk(3, dim=0))
    if link.kind == "transpose":
        return [tensor.t()]
    return [tensor]


def _to_openai(link: _Link, tensors: list[torch.Tensor]) -> torch.Tensor:
    if link.kind == "split3":
        return torch.cat(tensors, dim=0)
    if link.kind == "transpose":
        return tensors[0].t()
    return tensors[0]


def _openai_shape(link: _Link, hf_shapes: list[torch.Size]) -> tuple[int, ...]:
    if link.kind == "split3":
        return (sum(s[0] for s in hf_shapes), *hf_shapes[0][1:])
    if link.kind == "transpose":
        return tuple(reversed(hf_shapes[0]))
    return tuple(hf_shapes[0])


def _wb(openai: str, hf: str) -> Iterator[_Link]:
    for p in ("weight", "bias"):
        yield _Link(f"{openai}.{p}", (f"{hf}.{p}",))


def _blocks(openai: str, hf: str, layers: int) -> Iterator[_Link]:
    """The residual attention blocks of one tower (pre-LN: ln_1, attn, ln_2, mlp)."""
    for i in range(layers):
        src, dst = f"{openai}.resblocks.{i}", f"{hf}.layers.{i}"
        yield _Link(f"{src}.attn.in_proj_weight", tuple(f"{dst}.self_attn.{x}_proj.weight" for x in "qkv"), "split3")
        yield _Link(f"{src}.attn.in_proj_bias", tuple(f"{dst}.self_attn.{x}_proj.bias" for x in "qkv"), "split3")
        yield from _wb(f"{src}.attn.out_proj", f"{dst}.self_attn.out_proj")
        yield from _wb(f"{src}.ln_1", f"{dst}.layer_norm1")
        yield from _wb(f"{src}.ln_2", f"{dst}.layer_norm2")
        yield from _wb(f"{src}.mlp.c_fc", f"{dst}.mlp.fc1")
        yield from _wb(f"{src}.mlp.c_proj", f"{dst}.mlp.fc2")


def clip_links(config: Any) -> list[_Link]:
    """The complete OpenAI -> transformers key correspondence for a ``CLIPConfig``."""
    ve, te = "vision_model.embeddings", "text_model.embeddings"
    links = [
        _Link("visual.conv1.weight", (f"{ve}.patch_embedding.weight",)),
        _Link("visual.class_embedding", (f"{ve}.class_embedding",)),
        _Link("visual.positional_embedding", (f"{ve}.position_embedding.weight",)),
        *_wb("visual.ln_pre", "vision_model.pre_layrnorm"),
        *_blocks("visual.transformer", "vision_model.encoder", config.vision_config.num_hidden_layers),
        *_wb("visual.ln_post", "vision_model.post_layernorm"),
        _Link("visual.proj", ("visual_projection.weight",), "transpose"),
        _Link("token_embedding.weight", (f"{te}.token_embedding.weight",)),
        _Link("positional_embedding", (f"{te}.position_embedding.weight",)),
        *_blocks("transformer", "text_model.encoder", config.text_config.num_hidden_layers),
        *_wb("ln_final", "text_model.final_layer_norm"),
        _Link("text_projection", ("text_projection.weight",), "transpose"),
        _Link("logit_scale", ("logit_scale",)),
    ]
    return links


def _metadata_problem(key: str, value: torch.Tensor, config: Any) -> str | None:
    """OpenAI's scalar metadata must agree with the shapes, else the file is inconsistent."""
    expected = {"input_resolution": config.vision_config.image_size,
                "context_length": config.text_config.max_position_embeddings,
                "vocab_size": config.text_config.vocab_size}[key]  # fmt: skip
    if value.numel() != 1 or int(value.item()) != expected:
        return f"{key} = {value.tolist()} (expected {expected} from the tensor shapes)"
    return None


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], model: Any, source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """OpenAI-layout tensors -> a complete transformers state dict for ``model``; strict (see module docstring)."""
    target = model.state_dict()
    result = convert_links(state_dict, target, clip_links(model.config), lambda link: link.openai,
                           lambda link: link.hf, _openai_shape, _to_hf)  # fmt: skip
    for key, value in state_dict.items():
        if key in result.consumed:
            continue
        if key in OPENAI_METADATA:
            problem = _metadata_problem(key, value, model.config)
            if problem:
                result.wrong.append(problem)
            continue
        result.unexpected.append(key)
    unfilled = [k for k in target if k not in result.tensors]
    raise_misfits(result, unfilled, source, "OpenAI CLIP's layout", "OpenAI CLIP")
    return result.tensors


def to_openai_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The inverse of ``convert_state_dict``: a transformers ``CLIPModel``'s tensors in OpenAI's key layout."""
    state = model.state_dict()
    return {
        link.openai: _to_openai(link, [state[h].detach().cpu() for h in link.hf]).contiguous().clone()
        for link in clip_links(model.config)
    }


@contextmanager
def _quiet_jit() -> Iterator[None]:
    """TorchScript is deprecated (a DeprecationWarning in torch 2.13, FutureWarning later), but OpenAI's files are TorchScript."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated")
        yield


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives carry ``constants.pkl`` and ``code/``; ``torch.save`` files do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def read_openai_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of OpenAI's TorchScript ``.pt`` (via ``torch.jit.load``) or of a plain state-dict file
    (weights-only unpickling; ``{"state_dict": ...}`` wrappers accepted)."""
    try:
        if _is_torchscript(path):
            with _quiet_jit():
                state = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, pickle errors, OSError, ...
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise JanusEvalError(f"cannot read OpenAI CLIP checkpoint {path}: {message}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise JanusEvalError(f"{path} is not an OpenAI CLIP checkpoint: expected a mapping of names to tensors")
    return state


def load_openai_clip(path: Path) -> Any:
    """OpenAI's CLIP checkpoint as a transformers ``CLIPModel`` in fp32 eval mode (strict mapping)."""
    from transformers import CLIPModel

    path = Path(path)
    state = read_openai_state_dict(path)
    source = f"OpenAI CLIP checkpoint {path}"
    model = CLIPModel(clip_config_from_state_dict(state, source))
    model.load_state_dict(convert_state_dict(state, model, source=source), strict=True)
    return model.eval()


# -- tokenizer ---------------------------------------------------------------------------------
def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values, in CLIP's vocabulary order: printable
    bytes as themselves, then the rest mapped to code points 256, 257, ... in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(others))]


def bpe_vocabulary(bpe_path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) exactly as CLIP's ``SimpleTokenizer`` builds them from ``bpe_simple_vocab_16e6.txt.gz``:
    the 256 byte characters, the same with ``</w>``, one token per merge, then the two special tokens."""
    try:
        with gzip.open(bpe_path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise JanusEvalError(f"cannot read CLIP BPE vocabulary {bpe_path}: {error}") from error
    merges = [tuple(line.split()) for line in lines[1 : BPE_MERGES + 1] if line.strip()]
    if any(len(m) != 2 for m in merges):
        raise JanusEvalError(f"{bpe_path} is not a CLIP BPE merges file: a line does not hold one pair")
    tokens = _bytes_to_unicode()
    tokens = tokens + [t + "</w>" for t in tokens] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges  # type: ignore[misc]


def tokenizer_from_bpe(bpe_path: Path, context_length: int = 77) -> Any:
    """A transformers ``CLIPTokenizer`` giving the ids of CLIP's ``SimpleTokenizer`` for ``bpe_path``."""
    from transformers import CLIPTokenizer

    vocab, merges = bpe_vocabulary(bpe_path)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=context_length)


def tokenizer_from_hf_files(folder: Path, context_length: int = 77) -> Any:
    """A ``CLIPTokenizer`` from transformers' ``vocab.json`` + ``merges.txt`` (as in openai/clip-vit-large-patch14)."""
    from transformers import CLIPTokenizer

    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    lines = (folder / "merges.txt").read_text(encoding="utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines if line.strip() and not line.startswith("#version")]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=context_length)


def find_bpe_file(checkpoint: Path) -> Path | None:
    """CLIP's BPE gz next to ``checkpoint``, else inside an installed ``open_clip`` (or OpenAI ``clip``)
    package, located without importing it (open_clip imports torchvision)."""
    candidates = [checkpoint.parent / BPE_FILE]
    for package in ("open_clip", "clip"):
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidates.append(Path(location) / BPE_FILE)
    return next((c for c in candidates if c.is_file()), None)


def openai_clip_tokenizer(checkpoint: Path, context_length: int = 77) -> Any:
    """The tokenizer for an OpenAI ``.pt``: CLIP's BPE gz (see ``find_bpe_file``), else HF files beside it."""
    bpe = find_bpe_file(checkpoint)
    if bpe is not None:
        return tokenizer_from_bpe(bpe, context_length)
    folder = checkpoint.parent
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return tokenizer_from_hf_files(folder, context_length)
    raise JanusEvalError(
        f"no CLIP tokenizer for {checkpoint}: put {BPE_FILE} (shipped in the open_clip and openai/CLIP "
        "repositories) or transformers' vocab.json + merges.txt next to it"
    )


__all__: list[str] = [
    "BPE_FILE",
    "bpe_vocabulary",
    "clip_config_from_state_dict",
    "clip_links",
    "convert_state_dict",
    "find_bpe_file",
    "is_vit_l14",
    "load_openai_clip",
    "openai_clip_tokenizer",
    "read_openai_state_dict",
    "to_openai_state_dict",
    "tokenizer_from_bpe",
    "tokenizer_from_hf_files",
]
