"""Checkpoints in all three formats load back to identical logits; bad ones fail clearly."""

import json

import pytest
import torch
from checkpoint_writers import write_original

from janus_eval.errors import JanusEvalError
from janus_eval.model import load
from janus_eval.model.checkpoint import check_weight_files, weight_files
from janus_eval.model.original_format import load_original, original_key
from janus_eval.model.tiny import TOKEN_IDS, build_tokenizer, tiny_config


@pytest.fixture(scope="module")
def untied_model():
    """A tiny Janus with an untied lm_head, like the original DeepSeek-LLM language model."""
    config = tiny_config()
    config.tie_word_embeddings = False
    config.text_config.tie_word_embeddings = False
    config.vision_config.depth = 3  # exercise aligner layers.4
    torch.manual_seed(7)
    from transformers import JanusForConditionalGeneration

    model = JanusForConditionalGeneration(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def logits(adapter):
    ids = torch.tensor([adapter.understanding_ids("Is there a cat?", 1)])
    pv = torch.rand(1, 3, adapter.image_size, adapter.image_size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        text = adapter.model(input_ids=ids, pixel_values=pv).logits
        gen = adapter.model.model.generation_head(adapter.model.prepare_embeddings_for_image_generation(torch.tensor([[1, 2]])))
        image = adapter.model.decode_image_tokens(torch.arange(16)[None])
    return text, gen, image


def save_tokenizer(path):
    build_tokenizer().save_pretrained(path)


@pytest.mark.parametrize("weights, variant", [("safetensors", "janus"), ("bin", "janus-pro")])
def test_original_format_round_trip(tmp_path, untied_model, weights, variant):
    write_original(untied_model, tmp_path, weights=weights)
    save_tokenizer(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "multi_modality" and config["language_config"]["_attn_implementation"] == "flash_attention_2"
    adapter = load(tmp_path)
    assert adapter.model.config._attn_implementation == "sdpa"
    assert adapter.chat.user == ("User" if variant == "janus" else "<|User|>")
    from janus_eval.model.adapter import JanusAdapter
    from janus_eval.model.chat import FORMATS

    reference = JanusAdapter(untied_model, build_tokenizer(), FORMATS[variant], name="ref")
    for ours, theirs in zip(logits(adapter), logits(reference)):
        assert torch.equal(ours, theirs)


def test_hf_format_round_trip(tmp_path, tiny_adapter):
    tiny_adapter.model.save_pretrained(tmp_path)
    save_tokenizer(tmp_path)
    adapter = load(tmp_path)
    for ours, theirs in zip(logits(adapter), logits(tiny_adapter)):
        assert torch.equal(ours, theirs)
    assert adapter.understand([None], ["hello"], 5) == tiny_adapter.understand([None], ["hello"], 5)


def test_key_mapping_examples():
    assert original_key("model.vision_model.encoder.layers.3.self_attn.k_proj.weight") == "vision_model.vision_tower.blocks.3.attn.qkv.weight"
    assert original_key("model.vqmodel.decoder.up.1.block.0.conv1.weight") == "gen_vision_model.decoder.conv_blocks.1.res.0.conv1.weight"
    assert original_key("model.vqmodel.encoder.mid.attn_1.q.weight") == "gen_vision_model.encoder.mid.1.q.weight"
    assert original_key("model.generation_aligner.hidden_layers.0.bias") == "gen_aligner.layers.2.bias"
    assert original_key("model.generation_head.proj_out.weight") == "gen_head.output_mlp_projector.weight"
    assert original_key("lm_head.weight") == "language_model.lm_head.weight"


def test_strict_loading_names_unmapped_and_missing_keys(tmp_path, untied_model):
    from safetensors.torch import load_file, save_file

    write_original(untied_model, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["vision_model.vision_tower.attn_pool.latent"] = torch.zeros(1)  # known leftover: fine
    state["mystery.weight"] = torch.zeros(1)
    del state["gen_head.vision_head.bias"]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(JanusEvalError, match=r"1 unmapped checkpoint tensors \['mystery.weight'\], 1 missing \['gen_head.vision_head.bias'\]"):
        load_original(tmp_path, TOKEN_IDS["<image_placeholder>"], weight_files(tmp_path))


def test_wrong_shape_is_reported(tmp_path, untied_model):
    from safetensors.torch import load_file, save_file

    write_original(untied_model, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["gen_embed.weight"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(JanusEvalError, match="wrong shape"):
        load_original(tmp_path, TOKEN_IDS["<image_placeholder>"], weight_files(tmp_path))


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "is not a directory with a config.json"),
        (lambda p: (p / "config.json").write_text('{"model_type": "llava"}'), "not a Janus model"),
        (lambda p: (p / "config.json").write_text("{oops"), "not valid JSON"),
    ],
)
def test_bad_checkpoints(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(JanusEvalError, match=message):
        load(tmp_path)


def test_missing_checkpoint_says_what_to_fetch(tmp_path):
    with pytest.raises(JanusEvalError, match="does not exist.*`hf download deepseek-ai/Janus-1.3B"):
        load(tmp_path / "Janus-1.3B")


def test_config_that_does_not_match_its_weights_is_one_line_and_writes_nothing(tmp_path, tiny_adapter, cli_invoke, capsys):
    """Through the CLI: a config.json whose sizes disagree with the weights names the tensor and both shapes,
    says what is wrong (not "fetch it again"), exits 2, and creates nothing in a fresh --out."""
    ckpt = tmp_path / "ckpt"
    tiny_adapter.model.save_pretrained(ckpt)
    save_tokenizer(ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    config["text_config"]["intermediate_size"] = 96
    (ckpt / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    capsys.readouterr()  # save_pretrained's progress bar
    code, _, err = cli_invoke("run", "--tasks", "pope", "--ckpt", str(ckpt), "--out", str(out), "--limit", "2", "--no-progress")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "config.json and the weights disagree" in err and "mlp.down_proj.weight is [64, 128]" in err, err
    assert "[64, 96]" in err and "fetch" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("weights", ["safetensors", "bin"])
@pytest.mark.parametrize("edit, tensor", [
    (lambda c: c["language_config"].update(intermediate_size=96), "language_model.model.layers.0.mlp.down_proj.weight is [64, 128]"),
    (lambda c: c["vision_config"]["params"]["architecture"].update(hidden_size=48), "aligner.layers.0.weight is [64, 64]"),
])  # fmt: skip
def test_an_original_release_whose_config_disagrees_is_refused_before_the_run_starts(
    tmp_path, untied_model, cli_invoke, model_loads, weights, edit, tensor
):
    """The original layout (Janus-1.3B's safetensors, Janus-Pro's .bin) is checked against its config.json as the
    transformers layout is: one line naming the tensor under the release's own name, nothing written, no load."""
    ckpt = tmp_path / "ckpt"
    write_original(untied_model, ckpt, weights=weights)
    save_tokenizer(ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    edit(config)
    (ckpt / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    code, _, err = cli_invoke("run", "--tasks", "pope", "--ckpt", str(ckpt), "--out", str(out), "--limit", "2", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "config.json and the weights disagree" in err and tensor in err, err
    assert not out.exists() and model_loads == []


def test_an_unreadable_bin_is_one_line(tmp_path, untied_model):
    write_original(untied_model, tmp_path, weights="bin")
    (tmp_path / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(JanusEvalError, match="pytorch_model.bin is not a readable torch checkpoint") as info:
        check_weight_files(tmp_path)
    assert "\n" not in str(info.value)
