"""OpenAI CLIP checkpoints -> transformers CLIPModel: round trip, strictness, BPE tokenizer (offline, fast)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoint_writers import write_openai_clip_checkpoint
from PIL import Image

from janus_eval.metrics import clip_mapping as cm
from janus_eval.metrics import geneval_models as gm
from janus_eval.errors import JanusEvalError

# A few CLIP-style merges (word-final pieces carry </w>) over the words GenEval's colour texts use.
MERGES = ("r e", "re d</w>", "b l", "bl u", "blu e</w>", "p h", "ph o", "pho t", "phot o</w>", "o f</w>")
N_BYTES = 256


def _bpe_file(folder: Path, merges: tuple[str, ...] = MERGES) -> Path:
    path = folder / cm.BPE_FILE
    lines = ["#version: 0.2 (synthetic)", *merges, ""]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def _vocab_size(merges: tuple[str, ...] = MERGES) -> int:
    return 2 * N_BYTES + len(merges) + 2


def _tiny_model(seed: int = 0, vocab: int | None = None) -> torch.nn.Module:
    """A tiny CLIPModel whose config is what ``clip_config_from_state_dict`` derives (heads = width // 64)."""
    from transformers import CLIPConfig, CLIPModel

    vocab = vocab or _vocab_size()
    text = {
        "vocab_size": vocab, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
        "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1,
    }  # fmt: skip
    vision = {
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 1,
        "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu",
    }  # fmt: skip
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)).eval()
    with torch.no_grad():  # non-trivial values everywhere (LayerNorms start at 1/0, biases at 0)
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    return _tiny_model()


def _inputs(vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab - 2, (3, 9), generator=gen)
    ids[:, 0] = vocab - 2
    ids[0, 5:] = vocab - 1  # EOT then EOT padding
    ids[1, 8] = vocab - 1
    ids[2, 3:] = vocab - 1
    mask = (torch.arange(9)[None] <= (ids == vocab - 1).int().argmax(-1)[:, None]).long()
    return ids, mask, torch.randn(2, 3, 32, 32, generator=gen)


def _assert_same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> None:
    ids, mask, pixels = _inputs(a.config.text_config.vocab_size)
    with torch.no_grad():
        out_a = a(input_ids=ids, attention_mask=mask, pixel_values=pixels)
        out_b = b(input_ids=ids, attention_mask=mask, pixel_values=pixels)
    for name in ("logits_per_image", "text_embeds", "image_embeds"):
        assert torch.equal(getattr(out_a, name), getattr(out_b, name)), name


def test_round_trip_plain_state_dict_is_bit_identical(tiny: torch.nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "clip.pt"
    write_openai_clip_checkpoint(tiny, path)
    state = torch.load(path, weights_only=True)
    assert "visual.transformer.resblocks.1.attn.in_proj_weight" in state and "visual.proj" in state
    assert tuple(state["visual.proj"].shape) == (64, 24) and tuple(state["text_projection"].shape) == (128, 24)
    loaded = cm.load_openai_clip(path)
    assert loaded.config.text_config.num_attention_heads == 2 and loaded.config.vision_config.num_attention_heads == 1
    assert loaded.config.vision_config.image_size == 32 and loaded.config.vision_config.patch_size == 8
    assert loaded.config.vision_config.hidden_act == "quick_gelu" and loaded.config.projection_dim == 24
    expected, got = tiny.state_dict(), loaded.state_dict()
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    _assert_same_outputs(tiny, loaded)
    assert not cm.is_vit_l14(loaded.config)


def test_round_trip_torchscript_archive_fp16(tiny: torch.nn.Module, tmp_path: Path) -> None:
    """Like OpenAI's ViT-L-14.pt: a TorchScript archive of fp16 tensors plus scalar metadata."""
    path = tmp_path / "ViT-tiny.pt"
    write_openai_clip_checkpoint(tiny, path, torchscript=True, half=True)
    assert cm._is_torchscript(path)
    state = cm.read_openai_state_dict(path)
    assert state["visual.conv1.weight"].dtype == torch.float16 and int(state["input_resolution"]) == 32
    loaded = cm.load_openai_clip(path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    rounded = _tiny_model()
    with torch.no_grad():
        for param in rounded.parameters():
            param.copy_(param.half().float())
    _assert_same_outputs(rounded, loaded)


def _write(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path)
    return path


def _error(state: dict[str, torch.Tensor], path: Path) -> str:
    with pytest.raises(JanusEvalError) as info:
        cm.load_openai_clip(_write(state, path))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_key_is_named(tiny: torch.nn.Module, tmp_path: Path) -> None:
    state = cm.to_openai_state_dict(tiny)
    del state["visual.transformer.resblocks.1.ln_2.bias"]
    message = _error(state, tmp_path / "a.pt")
    assert "1 missing OpenAI CLIP keys: visual.transformer.resblocks.1.ln_2.bias" in message
    assert "vision_model.encoder.layers.1.layer_norm2.bias" in message  # the unfilled model tensor
    del state["visual.conv1.weight"]  # a key the config is read from
    assert "missing OpenAI CLIP key visual.conv1.weight" in _error(state, tmp_path / "b.pt")


def test_extra_key_is_named(tiny: torch.nn.Module, tmp_path: Path) -> None:
    state = cm.to_openai_state_dict(tiny)
    state["visual.attnpool.weight"] = torch.zeros(3)
    assert "unexpected (unmapped) OpenAI CLIP keys: visual.attnpool.weight" in _error(state, tmp_path / "a.pt")


def test_wrong_shape_is_named(tiny: torch.nn.Module, tmp_path: Path) -> None:
    state = cm.to_openai_state_dict(tiny)
    state["transformer.resblocks.0.attn.in_proj_weight"] = torch.zeros(3 * 128, 64)
    message = _error(state, tmp_path / "a.pt")
    assert "transformer.resblocks.0.attn.in_proj_weight (384, 64) (expected (384, 128))" in message
    state = cm.to_openai_state_dict(tiny)
    state["visual.proj"] = state["visual.proj"].t().contiguous()  # forgot the transpose
    assert "visual.proj (24, 64) (expected (64, 24))" in _error(state, tmp_path / "b.pt")


def test_openai_metadata_is_checked_not_mapped(tiny: torch.nn.Module, tmp_path: Path) -> None:
    state = cm.to_openai_state_dict(tiny)
    state.update(
        input_resolution=torch.tensor(32), context_length=torch.tensor(77), vocab_size=torch.tensor(_vocab_size())
    )
    cm.load_openai_clip(_write(state, tmp_path / "ok.pt"))
    state["input_resolution"] = torch.tensor(224)
    assert "input_resolution = 224 (expected 32" in _error(state, tmp_path / "bad.pt")


def test_unreadable_files_give_one_line_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(JanusEvalError, match="cannot read OpenAI CLIP checkpoint"):
        cm.load_openai_clip(garbage)
    with pytest.raises(JanusEvalError, match="mapping of names to tensors"):
        cm.load_openai_clip(_write({"a": [1, 2]}, tmp_path / "list.pt"))  # type: ignore[dict-item]


# -- tokenizer -----------------------------------------------------------------------------------
def test_bpe_vocabulary_follows_simple_tokenizer(tmp_path: Path) -> None:
    vocab, merges = cm.bpe_vocabulary(_bpe_file(tmp_path))
    assert len(vocab) == _vocab_size() and merges[0] == ("r", "e")
    assert vocab["!"] == 0 and vocab["~"] == 93 and vocab["Ā"] == 188  # byte 0 after the 188 printable bytes
    assert vocab["!</w>"] == 256 and vocab["re"] == 512 and vocab["red</w>"] == 513
    assert vocab["<|startoftext|>"] == len(vocab) - 2 and vocab["<|endoftext|>"] == len(vocab) - 1


def test_bpe_keeps_only_simple_tokenizers_merge_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cm, "BPE_MERGES", 2)  # the real file has more lines than CLIP uses (49152 - 258)
    vocab, merges = cm.bpe_vocabulary(_bpe_file(tmp_path))
    assert merges == [("r", "e"), ("re", "d</w>")] and len(vocab) == 2 * N_BYTES + 2 + 2


def test_tokenizer_from_bpe_ids(tmp_path: Path) -> None:
    tokenizer = cm.tokenizer_from_bpe(_bpe_file(tmp_path))
    vocab, _ = cm.bpe_vocabulary(tmp_path / cm.BPE_FILE)
    bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    assert tokenizer("red")["input_ids"] == [bos, vocab["red</w>"], eos]
    assert tokenizer("  A photo of a RED-colored blue")["input_ids"] == [
        bos, vocab["a</w>"], vocab["photo</w>"], vocab["of</w>"], vocab["a</w>"], vocab["red</w>"], vocab["-</w>"],
        vocab["c"], vocab["o"], vocab["l"], vocab["o"], vocab["red</w>"], vocab["blue</w>"], eos,
    ]  # fmt: skip
    batch = tokenizer(["red", "a photo"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == [
        [bos, vocab["red</w>"], eos, eos],
        [bos, vocab["a</w>"], vocab["photo</w>"], eos],
    ]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_hf_files_give_the_same_ids(tmp_path: Path) -> None:
    vocab, merges = cm.bpe_vocabulary(_bpe_file(tmp_path))
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    texts = ["a photo of a red-colored dog", "a photo of a blue object", "Photo of  RED."]
    ours, theirs = cm.tokenizer_from_bpe(tmp_path / cm.BPE_FILE), cm.tokenizer_from_hf_files(folder)
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]


def test_padding_does_not_change_text_features(tiny: torch.nn.Module, tmp_path: Path) -> None:
    """Features come from the first EOT; the causal mask hides the EOT padding that follows it."""
    tokenizer = cm.tokenizer_from_bpe(_bpe_file(tmp_path))
    texts = ["a photo of a red bus", "a photo of a red-colored traffic light with a long name"]
    with torch.no_grad():
        batched = tiny.get_text_features(**tokenizer(texts, padding=True, return_tensors="pt")).pooler_output
        alone = tiny.get_text_features(**tokenizer(texts[:1], return_tensors="pt")).pooler_output
        full = tokenizer(texts[:1], padding="max_length", max_length=77, return_tensors="pt")
        padded77 = tiny.get_text_features(input_ids=full["input_ids"]).pooler_output  # no attention mask at all
    torch.testing.assert_close(batched[0], alone[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(padded77[0], alone[0], rtol=1e-5, atol=1e-6)


# -- load_color_classifier -----------------------------------------------------------------------
def test_load_color_classifier_from_openai_file(tiny: torch.nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "ViT-tiny.pt"
    write_openai_clip_checkpoint(tiny, path, torchscript=True)
    _bpe_file(tmp_path)
    classifier = gm.load_color_classifier(path)
    assert not classifier.official and classifier.name == "OpenAI CLIP ViT-tiny.pt"
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    mask = np.zeros((40, 50), dtype=bool)
    mask[5:30, 10:45] = True
    colours = classifier.classify(image, [{"box": [10, 5, 45, 30], "mask": mask}, {"box": [0.4, 1.6, 49, 39.5]}], "bus")
    assert len(colours) == 2 and all(c in gm.COLORS for c in colours)


def test_missing_tokenizer_is_a_one_line_error(
    tiny: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ViT-tiny.pt"
    write_openai_clip_checkpoint(tiny, path)
    monkeypatch.setattr(cm, "find_bpe_file", lambda checkpoint: None)
    with pytest.raises(JanusEvalError, match=f"no CLIP tokenizer for .*{cm.BPE_FILE}") as info:
        gm.load_color_classifier(path)
    assert "\n" not in str(info.value)
    with pytest.raises(JanusEvalError, match="ViT-L-14.pt"):
        gm.load_color_classifier(tmp_path / "absent.pt")


def test_geneval_default_clip_path(tmp_path: Path) -> None:
    from janus_eval.tasks.geneval import CLIP_DIR, CLIP_FILE, _default_clip

    assert _default_clip(tmp_path) == tmp_path / CLIP_DIR  # neither: the directory (its error names both)
    (tmp_path / CLIP_FILE).write_bytes(b"")
    assert _default_clip(tmp_path) == tmp_path / CLIP_FILE
    (tmp_path / CLIP_DIR).mkdir()
    assert _default_clip(tmp_path) == tmp_path / CLIP_DIR
