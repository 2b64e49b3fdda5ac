"""The embedded tiny Janus: random weights from a fixed seed, built offline in well under a second.

It has Janus's architecture (transformers' Janus modules), its special tokens and chat format, and
goes through the same adapter code as a real checkpoint, only small: a 2-layer 64-wide language
model, a 32 px understanding encoder (16 image tokens), and a 512-code VQ decoder giving 32 px
images from 16 tokens. Its answers are meaningless; it exists to run the pipeline anywhere.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import JanusConfig, JanusForConditionalGeneration, PreTrainedTokenizerFast

from janus_eval.model.chat import BEGIN_OF_IMAGE, BOS, END_OF_IMAGE, EOS, IMAGE_PLACEHOLDER, PAD

TINY_SEED = 20241017
SPECIAL_TOKENS = [BOS, EOS, PAD, IMAGE_PLACEHOLDER, BEGIN_OF_IMAGE, END_OF_IMAGE]
N_BYTES = 256
VOCAB_SIZE = N_BYTES + len(SPECIAL_TOKENS)
TOKEN_IDS = {tok: N_BYTES + i for i, tok in enumerate(SPECIAL_TOKENS)}


def _byte_chars() -> list[str]:
    """The byte-level pre-tokenizer's printable stand-in for each byte 0..255 (GPT-2's table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for byte in range(N_BYTES):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(N_BYTES + extra))
            extra += 1
    return chars


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (one token per byte) with Janus's special tokens pinned after the bytes."""
    vocab = {char: byte for byte, char in enumerate(_byte_chars())}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IMAGE_PLACEHOLDER, BEGIN_OF_IMAGE, END_OF_IMAGE],
        extra_special_tokens={"image_token": IMAGE_PLACEHOLDER, "boi_token": BEGIN_OF_IMAGE, "eoi_token": END_OF_IMAGE},
    )
    for token, expected in TOKEN_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == expected, token
    return tokenizer


def tiny_config() -> JanusConfig:
    text = dict(
        model_type="llama", vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096, rms_norm_eps=1e-6,
        bos_token_id=TOKEN_IDS[BOS], eos_token_id=TOKEN_IDS[EOS], pad_token_id=TOKEN_IDS[PAD],
        tie_word_embeddings=True,
    )  # fmt: skip
    vision = dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8,
        projection_dim=64, depth=2, num_image_tokens=16, mlp_ratio=2.0,
    )  # fmt: skip
    vq = dict(
        embed_dim=8, num_embeddings=512, latent_channels=32, base_channels=32, channel_multiplier=[1, 1, 2, 2],
        num_res_blocks=1, projection_dim=64, image_token_embed_dim=64, num_hidden_layers=2,
    )  # fmt: skip
    config = JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=TOKEN_IDS[IMAGE_PLACEHOLDER])
    config._attn_implementation = "sdpa"
    return config


def build_tiny_model() -> JanusForConditionalGeneration:
    """Deterministic random weights, scaled up so outputs vary with the input instead of collapsing.

    With transformers' default init (std 0.02) the residual stream barely moves and greedy decoding
    repeats the last prompt token; variance-preserving matrices (x3) and unit embeddings avoid that.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = JanusForConditionalGeneration(tiny_config())
        with torch.no_grad():
            model.model.language_model.embed_tokens.weight.normal_(0.0, 1.0)
            model.model.generation_embeddings.weight.normal_(0.0, 1.0)
            for part in (model.model.language_model, model.model.generation_aligner, model.model.generation_head):
                for name, weight in part.named_parameters():
                    if weight.dim() == 2 and "embed" not in name:
                        weight.normal_(0.0, 3.0 / weight.shape[1] ** 0.5)
    return model.eval()
