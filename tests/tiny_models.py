"""Tiny random-weight models of the real classes, built from configs and saved to a folder.

Tests load them back through gauntlet's real loaders (no mocks): the plumbing is real, only
the weights are random.
"""

from __future__ import annotations

import json
from pathlib import Path


def _byte_chars() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_clip_tokenizer(words=("a", "photo", "of", "red", "circle", "square"), max_length=16):
    """A byte-level BPE CLIPTokenizer with merges that make each word one token."""
    from transformers import CLIPTokenizer

    chars = _byte_chars()
    vocab = chars + [c + "</w>" for c in chars]
    merges = []
    for w in words:
        pieces = list(w[:-1]) + [w[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            if pieces[0] not in vocab:
                vocab.append(pieces[0])
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=list(dict.fromkeys(merges)),
                         model_max_length=max_length)


def tiny_clip_text_encoder(tok):  # noqa: ANN001, ANN201
    """A two-layer ``CLIPTextModel`` of width 32 for :func:`tiny_clip_tokenizer` (the tiny pipelines' encoder)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=16, projection_dim=32, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))


def build_tiny_sd(path: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tok = tiny_clip_tokenizer()
    text_encoder = tiny_clip_text_encoder(tok)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8, sample_size=64)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    return path


def build_tiny_mask2former(path: Path, class_names: list[str], favour: str | None = None, seed: int = 0) -> Path:
    """Tiny Mask2Former; ``favour`` biases the class head so that class gets confident detections."""
    import torch
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    torch.manual_seed(seed)
    id2label = dict(enumerate(class_names))
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                          window_size=4, drop_path_rate=0.0, out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1, decoder_layers=2,
                            num_attention_heads=2, num_queries=10, id2label=id2label,
                            label2id={v: k for k, v in id2label.items()})
    model = Mask2FormerForUniversalSegmentation(cfg).eval()
    if favour is not None:
        with torch.no_grad():
            model.class_predictor.bias[class_names.index(favour)] += 20.0
    proc = Mask2FormerImageProcessor(size={"height": 64, "width": 64}, ignore_index=255, num_labels=len(class_names))
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


def build_tiny_open_clip(path: Path, seed: int = 0) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model_cfg = {"embed_dim": 32,
                 "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}}
    model = open_clip.CLIP(**model_cfg)
    path.mkdir(parents=True, exist_ok=True)
    (path / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {
        "size": 64, "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
        "interpolation": "bicubic", "resize_mode": "shortest"}}))
    save_file(model.state_dict(), str(path / "open_clip_model.safetensors"))
    return path


TINY_WORDS = ("what is the color of a an this that there how many dog cat car red blue green yes no one two three "
              "are in on sky tree ball answer question choices").split()


def tiny_bert_vocab(words=TINY_WORDS) -> dict[str, int]:
    """A WordPiece vocab: specials, whole words, single chars and their ``##`` forms, BLIP's ``[DEC]``."""
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,?!:'-")
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(dict.fromkeys(words))
             + [c for c in chars if c not in words] + ["##" + c for c in chars] + ["[DEC]"])
    return {t: i for i, t in enumerate(dict.fromkeys(vocab))}


def save_blip_vqa(path: Path, tok, image_size: int, text: dict | None = None, vision: dict | None = None,  # noqa: ANN001
                  config: dict | None = None, seed: int = 0) -> Path:
    """A random-weight ``BlipForQuestionAnswering`` and its ``BlipProcessor`` saved to ``path``: the
    text config's vocabulary and special ids come from ``tok`` (``text`` may override the size),
    everything else from ``text``, ``vision`` and ``config`` (the transformers defaults otherwise)."""
    import torch
    from transformers import (
        BlipConfig,
        BlipForQuestionAnswering,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": image_size, "width": image_size}),
                              tokenizer=tok)
    text_cfg = BlipTextConfig(**{"vocab_size": len(tok), **(text or {})}, bos_token_id=tok.bos_token_id,
                              pad_token_id=tok.pad_token_id, sep_token_id=tok.sep_token_id,
                              eos_token_id=tok.sep_token_id)
    vis_cfg = BlipVisionConfig(image_size=image_size, **(vision or {}))
    torch.manual_seed(seed)
    cfg = BlipConfig(text_config=text_cfg.to_dict(), vision_config=vis_cfg.to_dict(), **(config or {}))
    BlipForQuestionAnswering(cfg).eval().save_pretrained(path)
    processor.save_pretrained(path)
    return Path(path)


def build_tiny_blip_vqa(path: Path, seed: int = 0) -> Path:
    """Tiny ``BlipForQuestionAnswering`` + ``BlipProcessor`` (32 px images, about 90k parameters).

    The text ``initializer_range`` is raised to 0.2 so that answers differ between inputs (at
    0.02 greedy decoding gives one string for everything, which hides batching bugs).
    """
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=tiny_bert_vocab(), bos_token="[DEC]", model_max_length=32)  # NOT vocab_file=
    return save_blip_vqa(
        path, tok, 32, seed=seed,
        text=dict(hidden_size=32, encoder_hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2,
                  num_attention_heads=2, max_position_embeddings=64, initializer_range=0.2),
        vision=dict(hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2,
                    num_attention_heads=2, patch_size=8,
                    initializer_range=0.02),  # the default 1e-10 gives near-zero vision weights
        config=dict(projection_dim=32, image_text_hidden_size=32, initializer_range=0.2))


LLAVA_15_CHAT_TEMPLATE = (  # llava-hf/llava-1.5-7b-hf's template
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', "
    "'text') %}{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | "
    "selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}"
    "{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")


def tiny_llama_tokenizer(words=TINY_WORDS):
    """A sentencepiece-style (``▁``, byte fallback) BPE LlamaTokenizer plus LLaVA's ``<image>`` and ``<pad>``."""
    from transformers import LlamaTokenizer

    chars = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,?!:'-\n")
    vocab = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁"] + chars
    merges = []
    for w in words:  # left-to-right merges make "▁word" one token
        pieces = ["▁"] + list(w)
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.append(pieces[0])
    tok = LlamaTokenizer(vocab={t: i for i, t in enumerate(dict.fromkeys(vocab))}, merges=list(dict.fromkeys(merges)))
    tok.add_tokens(["<image>"], special_tokens=True)
    tok.add_special_tokens({"pad_token": "<pad>"})
    return tok


def build_tiny_llava(path: Path, seed: int = 0, chat_template: bool = True) -> Path:
    """Tiny ``LlavaForConditionalGeneration`` (CLIP vision 32 px / patch 8 -> 16 image tokens, Llama text).

    The Llama ``initializer_range`` is 0.2 so that answers differ between inputs.
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(seed)
    tok = tiny_llama_tokenizer()
    image_id = tok.convert_tokens_to_ids("<image>")
    # num_additional_image_tokens=1 counts CLIP's CLS, which the "default" strategy then drops (as llava-1.5's)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=LLAVA_15_CHAT_TEMPLATE if chat_template else None)
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=2, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                       initializer_range=0.2)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_id,
                      vision_feature_select_strategy="default", vision_feature_layer=-2,
                      pad_token_id=tok.pad_token_id)
    LlavaForConditionalGeneration(cfg).eval().save_pretrained(path)
    processor.save_pretrained(path)
    return Path(path)


def build_tiny_hf_clip(path: Path, seed: int = 0) -> Path:
    """Tiny ``CLIPModel`` + ``CLIPProcessor`` (32 px images, 32-token text) for PickScore and CLIPScore."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig, CLIPVisionConfig

    torch.manual_seed(seed)
    tok = tiny_clip_tokenizer(words=("a", "photo", "of", "red", "blue", "circle", "square", "cat", "dog"),
                              max_length=32)
    text_cfg = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, max_position_embeddings=32, projection_dim=32,
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id)
    vision_cfg = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=2, num_attention_heads=2, projection_dim=32)
    model = CLIPModel(CLIPConfig(text_config=text_cfg.to_dict(), vision_config=vision_cfg.to_dict(),
                                 projection_dim=32, initializer_factor=5.0)).eval()  # larger weights: spread scores
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}), tokenizer=tok)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return Path(path)


def build_tiny_hps(path: Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny open_clip ``local-dir`` model and an HPS-style checkpoint ``{"state_dict": ...}`` of other weights.

    Returns (model folder, checkpoint file); the checkpoint's weights (seed + 1) differ from the
    folder's, so a scorer that ignored the checkpoint would give other scores.
    """
    import open_clip
    import torch

    folder = build_tiny_open_clip(Path(path) / "open_clip", seed)
    cfg = json.loads((folder / "open_clip_config.json").read_text())["model_cfg"]
    torch.manual_seed(seed + 1)
    other = open_clip.CLIP(**cfg)
    ckpt = Path(path) / "HPS_tiny.pt"
    torch.save({"state_dict": other.state_dict(), "epoch": 1}, ckpt)
    return folder, ckpt


TINY_IMAGEREWARD_ARCH = {"image_size": 32, "patch_size": 8, "vision_width": 32, "vision_layers": 2, "vision_heads": 2,
                         "text_width": 24, "text_layers": 2, "text_heads": 2, "text_intermediate": 48,
                         "max_positions": 40, "mlp_dims": [16, 8, 8, 4], "max_length": 35}


def tiny_imagereward_state_dict(arch: dict, vocab_size: int, seed: int = 0) -> dict:
    """Random weights under the official ``ImageReward.pt`` names, shaped as BLIP's modules make them.

    Written from the reference's module definitions (``models/BLIP/vit.py``, ``med.py``,
    ``ImageReward.py``), not from gauntlet's key mapping, so a wrong mapping shows in the tests.
    """
    import torch

    g = torch.Generator().manual_seed(seed)

    def w(*shape, std=0.2):
        return torch.randn(*shape, generator=g) * std

    def ln(prefix, dim):
        return {f"{prefix}.weight": 1 + w(dim, std=0.1), f"{prefix}.bias": w(dim, std=0.1)}

    def lin(prefix, n_in, n_out):
        return {f"{prefix}.weight": w(n_out, n_in, std=n_in ** -0.5), f"{prefix}.bias": w(n_out, std=0.1)}

    V, P, T, H = arch["vision_width"], arch["patch_size"], arch["text_width"], arch["text_intermediate"]
    n_patches = (arch["image_size"] // P) ** 2
    sd = {"blip.visual_encoder.cls_token": w(1, 1, V), "blip.visual_encoder.pos_embed": w(1, n_patches + 1, V),
          "blip.visual_encoder.patch_embed.proj.weight": w(V, 3, P, P, std=(3 * P * P) ** -0.5),
          "blip.visual_encoder.patch_embed.proj.bias": w(V, std=0.1)}
    for i in range(arch["vision_layers"]):
        b = f"blip.visual_encoder.blocks.{i}"
        sd |= ln(f"{b}.norm1", V) | lin(f"{b}.attn.qkv", V, 3 * V) | lin(f"{b}.attn.proj", V, V)
        sd |= ln(f"{b}.norm2", V) | lin(f"{b}.mlp.fc1", V, 4 * V) | lin(f"{b}.mlp.fc2", 4 * V, V)
    sd |= ln("blip.visual_encoder.norm", V)
    e = "blip.text_encoder.embeddings"
    sd |= {f"{e}.word_embeddings.weight": w(vocab_size, T, std=1.0),
           f"{e}.position_embeddings.weight": w(arch["max_positions"], T, std=0.5),
           f"{e}.position_ids": torch.arange(arch["max_positions"]).expand((1, -1))}
    sd |= ln(f"{e}.LayerNorm", T)
    for i in range(arch["text_layers"]):
        b = f"blip.text_encoder.encoder.layer.{i}"
        sd |= lin(f"{b}.attention.self.query", T, T) | lin(f"{b}.attention.self.key", T, T)
        sd |= lin(f"{b}.attention.self.value", T, T) | lin(f"{b}.attention.output.dense", T, T)
        sd |= ln(f"{b}.attention.output.LayerNorm", T)
        sd |= lin(f"{b}.crossattention.self.query", T, T) | lin(f"{b}.crossattention.self.key", V, T)
        sd |= lin(f"{b}.crossattention.self.value", V, T) | lin(f"{b}.crossattention.output.dense", T, T)
        sd |= ln(f"{b}.crossattention.output.LayerNorm", T)
        sd |= lin(f"{b}.intermediate.dense", T, H) | lin(f"{b}.output.dense", H, T) | ln(f"{b}.output.LayerNorm", T)
    sd |= lin("blip.vision_proj", V, 16) | lin("blip.text_proj", T, 16)  # in the file, unused by the reward
    dims = [T, *arch["mlp_dims"], 1]
    for k, idx in enumerate((0, 2, 4, 6, 7)):  # nn.Sequential(Linear, Dropout, Linear, Dropout, Linear, Dropout, ...)
        sd |= lin(f"mlp.layers.{idx}", dims[k], dims[k + 1])
    return sd


def build_tiny_imagereward(path: Path, seed: int = 0) -> dict[str, Path]:
    """``ImageReward.pt`` (official key layout), a BERT tokenizer folder and the sizes as JSON.

    Returns {"checkpoint", "tokenizer", "arch"} paths.
    """
    import torch
    from transformers import BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizer(vocab=tiny_bert_vocab(), model_max_length=512)
    tok.save_pretrained(path / "tokenizer")
    arch = dict(TINY_IMAGEREWARD_ARCH, vocab_size=len(tok) + 1)  # + BLIP's [ENC]
    (path / "arch.json").write_text(json.dumps(arch))
    torch.save(tiny_imagereward_state_dict(arch, arch["vocab_size"], seed), path / "ImageReward.pt")
    return {"checkpoint": path / "ImageReward.pt", "tokenizer": path / "tokenizer", "arch": path / "arch.json"}


def build_tiny_blip_captioner(path: Path, seed: int = 0) -> Path:
    """Tiny ``BlipForConditionalGeneration`` + ``BlipProcessor`` for captioning (32 px images).

    Same sizes as :func:`build_tiny_blip_vqa`; the vocabulary holds caption words, so random
    weights decode to word strings that the bias suite's object extraction can read.
    """
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    torch.manual_seed(seed)
    words = TINY_WORDS + ["picture", "person", "holding", "apple", "man", "woman", "table", "circle", "square"]
    tok = BertTokenizerFast(vocab=tiny_bert_vocab(words), bos_token="[DEC]", model_max_length=32)
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    text_cfg = BlipTextConfig(
        vocab_size=len(tok), hidden_size=32, encoder_hidden_size=32, intermediate_size=64, projection_dim=32,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=64, bos_token_id=tok.bos_token_id,
        pad_token_id=tok.pad_token_id, sep_token_id=tok.sep_token_id, eos_token_id=tok.sep_token_id,
        initializer_range=0.2)
    vis_cfg = BlipVisionConfig(hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2,
                               num_attention_heads=2, image_size=32, patch_size=8, initializer_range=0.02)
    cfg = BlipConfig(text_config=text_cfg.to_dict(), vision_config=vis_cfg.to_dict(), projection_dim=32,
                     image_text_hidden_size=32, initializer_range=0.2)
    BlipForConditionalGeneration(cfg).eval().save_pretrained(path)
    processor.save_pretrained(path)
    return Path(path)


def build_tiny_pixart(path: Path, seed: int = 0) -> Path:
    """A tiny ``PixArtAlphaPipeline``: one-block ``PixArtTransformer2DModel`` over the same CLIP text
    encoder, VAE and scheduler sizes as :func:`build_tiny_sd` (as the world model's PixArt configs)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, PixArtAlphaPipeline, PixArtTransformer2DModel

    torch.manual_seed(seed)
    tok = tiny_clip_tokenizer()
    text_encoder = tiny_clip_text_encoder(tok)
    transformer = PixArtTransformer2DModel(
        in_channels=4, out_channels=4, sample_size=8, num_attention_heads=2, attention_head_dim=8, num_layers=1,
        patch_size=2, cross_attention_dim=16, caption_channels=32, norm_num_groups=8)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8, sample_size=64)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    PixArtAlphaPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, transformer=transformer,
                        scheduler=sched).save_pretrained(path)
    return Path(path)


def build_tiny_causal_lm(path: Path, seed: int = 0) -> Path:
    """A tiny ``LlamaForCausalLM`` (one layer) with :func:`tiny_llama_tokenizer`, saved to a folder
    that ``AutoModelForCausalLM`` / ``AutoTokenizer`` load by path. It writes gibberish."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = tiny_llama_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      initializer_range=0.2)
    LlamaForCausalLM(cfg).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return Path(path)
