"""HPS v2, PickScore, ImageReward and CLIPScore on tiny random-weight models loaded by path.

Each scorer runs through its real loader on CPU, batched, and is checked against an
independent computation written here from the reference's formula. The HPS chunk-mean rule,
CLIPScore's clamp and the scorer suite run end to end through the runner.
"""

import json
import math
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

from bench.stats import SuiteResult
from bench.types import Judgment, Prompt
from tests.tiny_models import build_tiny_hf_clip, build_tiny_hps, build_tiny_imagereward

torch.set_num_threads(1)

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
PROMPTS = ["a red circle", "a photo of a blue square", "a cat", "a dog in the sky",
           "what is the color of a car", "two red dogs on a tree"]


def _images(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [(48, 64), (64, 48), (40, 40), (64, 64), (50, 70), (72, 54)]
    out = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    out[2] = out[2].convert("L")  # a greyscale image: every scorer converts to RGB
    return out


def reference_transform(n_px):
    """The references' preprocessing (HPS/open_clip val, ImageReward ``_transform``): PIL resize, crop, RGB."""
    return Compose([Resize(n_px, interpolation=InterpolationMode.BICUBIC), CenterCrop(n_px),
                    lambda im: im.convert("RGB"), ToTensor(), Normalize(CLIP_MEAN, CLIP_STD)])


@pytest.fixture(scope="module")
def hps_files(tmp_path_factory):
    return build_tiny_hps(tmp_path_factory.mktemp("hps"))


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return build_tiny_hf_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def ir_files(tmp_path_factory):
    return build_tiny_imagereward(tmp_path_factory.mktemp("imagereward"))


# ---------------------------------------------------------------- HPS v2

def test_hps_is_100_cosine_of_the_checkpoint_weights(hps_files):
    import open_clip

    from bench.judges.hps import HPSv2Scorer

    folder, ckpt = hps_files
    images = _images()
    one = HPSv2Scorer(checkpoint=str(ckpt), arch=f"local-dir:{folder}", device="cpu", batch=1)
    four = HPSv2Scorer(checkpoint=str(ckpt), arch=f"local-dir:{folder}", device="cpu", batch=4)
    got = one.score(images, PROMPTS)
    assert np.allclose(got, four.score(images, PROMPTS), atol=1e-5)
    assert one.scale == "100 x cosine" and one.higher_is_better

    # independently: the architecture from open_clip, the checkpoint's state_dict, the reference's transform
    cfg = json.loads((folder / "open_clip_config.json").read_text())["model_cfg"]
    model = open_clip.CLIP(**cfg).eval()
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"])
    tokens = open_clip.tokenize(PROMPTS)  # the ViT-H-14 / OpenAI BPE tokenizer, 77 tokens
    pixels = torch.stack([reference_transform(64)(im) for im in images])
    with torch.no_grad():
        want = 100 * F.cosine_similarity(model.encode_image(pixels), model.encode_text(tokens))
    assert np.allclose(got, want.numpy(), atol=1e-4), (got, want)

    # the folder's own weights give other scores: the checkpoint really replaced them
    own = HPSv2Scorer(checkpoint="none", arch=f"local-dir:{folder}", device="cpu").score(images, PROMPTS)
    assert not np.allclose(own, got, atol=1e-2)


def test_hps_loading_errors_name_the_problem(hps_files, tmp_path):
    from bench.judges.hps import HPSv2Scorer

    folder, ckpt = hps_files
    with pytest.raises(ValueError, match=r"checkpoint=PATH"):  # offline, nothing cached
        HPSv2Scorer(arch=f"local-dir:{folder}", device="cpu").score(_images()[:1], PROMPTS[:1])
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    del state["visual.proj"]
    torch.save(state, tmp_path / "plain.pt")  # a plain state dict is accepted, and checked
    with pytest.raises(ValueError, match=r"visual\.proj"):
        HPSv2Scorer(checkpoint=str(tmp_path / "plain.pt"), arch=f"local-dir:{folder}", device="cpu").score(
            _images()[:1], PROMPTS[:1])
    with pytest.raises(ValueError, match="unknown HPS version"):
        HPSv2Scorer(version="v3")


def _reference_style_score(res):
    """``hpsv2/evaluation.py``: ``np.mean([np.mean(res[i:i+80]) * 100 for i in range(0, 800, 80)])`` (100x done)."""
    with warnings.catch_warnings():  # numpy warns on the empty slices of a short list (and returns NaN)
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.mean([np.mean(res[i:i + 80]) for i in range(0, 800, 80)]))


def test_hps_chunk_means_mirror_the_reference():
    from suites.hps.benchmark import benchmark_score, chunk_means

    rng = np.random.default_rng(0)
    full = {s: list(rng.normal(25, 3, 800)) for s in ("anime", "concept-art", "paintings", "photo")}
    overall, styles = benchmark_score(full)
    for s, vals in full.items():  # 800 prompts: ten equal chunks, so the plain mean too
        assert styles[s][0] == pytest.approx(_reference_style_score(vals), abs=1e-9)
        assert styles[s][0] == pytest.approx(np.mean(vals), abs=1e-9)
        assert styles[s][1] == pytest.approx(np.std([np.mean(vals[i:i + 80]) for i in range(0, 800, 80)]))
    assert overall == pytest.approx(np.mean([v[0] for v in styles.values()]))

    # 750 prompts: the reference's last chunk holds 30, so chunk means differ from the plain mean
    vals = list(np.arange(750.0))
    ref = _reference_style_score(vals)
    assert chunk_means(vals)[-1] == pytest.approx(734.5)  # mean of 720..749
    assert benchmark_score({"a": vals})[0] == pytest.approx(ref) == benchmark_score({"a": vals}, n_chunks=10)[0]
    assert ref != pytest.approx(np.mean(vals))

    # by hand, 100 prompts valued 0..99: chunks 0-79 (39.5) and 80-99 (89.5) -> 64.5; plain mean 49.5.
    # The reference's fixed range(0, 800, 80) gives empty chunks, so NaN: n_chunks=10 keeps that literally.
    vals = list(np.arange(100.0))
    assert chunk_means(vals) == [39.5, 89.5]
    assert benchmark_score({"a": vals})[0] == 64.5
    assert math.isnan(_reference_style_score(vals))
    assert math.isnan(benchmark_score({"a": vals}, n_chunks=10)[0])

    # 900 prompts: the reference ignores prompts past 800 (n_chunks=10); the default keeps them
    vals = list(np.arange(900.0))
    assert benchmark_score({"a": vals}, n_chunks=10)[0] == pytest.approx(_reference_style_score(vals)) == 399.5
    assert benchmark_score({"a": vals})[0] == pytest.approx(np.mean([np.mean(vals[i:i + 80])
                                                                      for i in range(0, 900, 80)]))


class _FixedScorer:
    judge_id, scale, higher_is_better = "fixed", "100 x cosine", True


def test_hps_suite_averages_images_then_chunks_in_prompt_order():
    from suites.hps import HPSSuite

    prompts = [Prompt(f"{s}-{i:05d}", f"p{i}", s) for s in ("anime", "photo") for i in range(100)]
    suite = HPSSuite("hps", prompts, _FixedScorer())
    judgments = []
    for p in reversed(prompts):  # order of judgments must not matter, only prompt order
        i = int(p.id[-5:])
        base = i if p.category == "anime" else 2 * i
        judgments += [Judgment(p.id, 0, f"{p.id}a", p.category, base - 1.0),
                      Judgment(p.id, 1, f"{p.id}b", p.category, base + 1.0)]
    r = suite.aggregate(judgments)
    assert r.categories["anime"].score == 64.5 and r.categories["photo"].score == 129.0
    assert r.overall == pytest.approx((64.5 + 129.0) / 2) and r.n == 400
    assert r.ci[0] <= r.overall <= r.ci[1]
    assert r.scale == "100 x cosine" and r.higher_is_better
    assert r.extras["chunk_std_anime"] == pytest.approx(25.0)


# ---------------------------------------------------------------- PickScore

def test_pickscore_is_logit_scale_times_cosine(clip_dir):
    from transformers import CLIPModel, CLIPTokenizer

    from bench.judges.pickscore import PickScoreScorer

    images = _images()
    one = PickScoreScorer(str(clip_dir), str(clip_dir), device="cpu", batch=1)
    got = one.score(images, PROMPTS)
    assert np.allclose(got, PickScoreScorer(str(clip_dir), str(clip_dir), "cpu", 4).score(images, PROMPTS), atol=1e-5)

    model = CLIPModel.from_pretrained(clip_dir).eval()
    tok = CLIPTokenizer.from_pretrained(clip_dir)
    pixels = torch.stack([reference_transform(32)(im) for im in images])  # PIL bicubic resize, as transformers 4.27
    text = tok(PROMPTS, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        img = model.get_image_features(pixel_values=pixels).pooler_output
        txt = model.get_text_features(**text).pooler_output
        want = model.logit_scale.exp() * F.cosine_similarity(img, txt)
    assert np.allclose(got, want.numpy(), atol=1e-4), (got, want)
    assert len(set(np.round(got, 3))) == len(got)  # not a constant


# ---------------------------------------------------------------- CLIPScore

def test_clipscore_is_torchmetrics_100_cosine(clip_dir):
    from torchmetrics.functional.multimodal import clip_score
    from torchmetrics.multimodal import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    from bench.judges.clipscore import CLIPScoreScorer, image_tensor, tensor_features_clip

    images = _images()
    got = CLIPScoreScorer(str(clip_dir), device="cpu", batch=1).score(images, PROMPTS)
    assert np.allclose(got, CLIPScoreScorer(str(clip_dir), "cpu", 4).score(images, PROMPTS), atol=1e-5)

    # independently: 100 * cos from the CLIPModel; per image, no clamp
    model, proc = CLIPModel.from_pretrained(clip_dir).eval(), CLIPProcessor.from_pretrained(clip_dir)
    with torch.no_grad():
        img = model.get_image_features(**proc(images=[im.convert("RGB") for im in images], return_tensors="pt"))
        txt = model.get_text_features(**proc(text=PROMPTS, padding=True, return_tensors="pt"))
        want = 100 * F.cosine_similarity(img.pooler_output, txt.pooler_output)
    assert np.allclose(got, want.numpy(), atol=1e-4), (got, want)
    assert min(got) < 0 < max(got)  # random weights: both signs, so the clamps below are exercised

    # torchmetrics' public API clamps the mean only: max(mean, 0), per image max(100 cos, 0)
    def loader():
        return tensor_features_clip().from_pretrained(clip_dir).eval(), CLIPProcessor.from_pretrained(clip_dir)

    tensors = [image_tensor(im) for im in images]
    metric = CLIPScore(model_name_or_path=loader)
    metric.update(tensors, PROMPTS)
    assert float(metric.compute()) == pytest.approx(max(np.mean(got), 0.0), abs=1e-4)
    assert float(metric.score / metric.n_samples) == pytest.approx(np.mean(got), abs=1e-4)
    with torch.no_grad():
        assert float(clip_score(tensors[:1], PROMPTS[:1], loader)) == pytest.approx(max(got[0], 0.0), abs=1e-4)


def test_clipscore_suite_clamps_means_at_zero():
    from suites.clipscore import CLIPScoreSuite

    class Scorer(_FixedScorer):
        judge_id, scale = "fixed", "100 x cosine"

    prompts = [Prompt("p0", "a", "x"), Prompt("p1", "b", "y")]
    js = [Judgment("p0", 0, "h0", "x", -5.0), Judgment("p0", 1, "h1", "x", 1.0),
          Judgment("p1", 0, "h2", "y", 2.0), Judgment("p1", 1, "h3", "y", 4.0)]
    r = CLIPScoreSuite("clipscore", prompts, Scorer()).aggregate(js)
    assert r.overall == pytest.approx(0.5) and r.categories["x"].score == 0.0 and r.categories["y"].score == 3.0
    assert r.categories["x"].ci[0] == 0.0 <= r.categories["x"].ci[1] and r.scale == "100 x cosine, mean clamped at 0"
    per_image = CLIPScoreSuite("clipscore", prompts, Scorer(), clamp="image")
    assert per_image.scale == "100 x cosine, each image clamped at 0" and per_image.judge_id.endswith("clamp=image")


# ---------------------------------------------------------------- ImageReward

MEAN, STD = 0.16717362830052426, 1.0333394966054072


def _reference_imagereward(sd, arch, pixels, ids, mask):
    """ImageReward.score written from the reference modules (BLIP vit.py, med.py, ImageReward.py)."""
    def lin(x, p):
        return F.linear(x, sd[f"{p}.weight"], sd[f"{p}.bias"])

    def ln(x, p, eps):
        return F.layer_norm(x, x.shape[-1:], sd[f"{p}.weight"], sd[f"{p}.bias"], eps)

    def heads(x, n):
        return x.reshape(x.shape[0], x.shape[1], n, -1).transpose(1, 2)

    v, P, nv = "blip.visual_encoder", arch["patch_size"], arch["vision_heads"]
    x = F.conv2d(pixels, sd[f"{v}.patch_embed.proj.weight"], sd[f"{v}.patch_embed.proj.bias"], stride=P)
    x = torch.cat([sd[f"{v}.cls_token"].expand(len(x), -1, -1), x.flatten(2).transpose(1, 2)], 1)
    x = x + sd[f"{v}.pos_embed"][:, :x.shape[1]]
    for i in range(arch["vision_layers"]):
        b = f"{v}.blocks.{i}"
        B, N, C = x.shape
        q, k, val = lin(ln(x, f"{b}.norm1", 1e-6), f"{b}.attn.qkv").reshape(B, N, 3, nv, C // nv).permute(2, 0, 3, 1, 4)
        att = ((q @ k.transpose(-2, -1)) * (C // nv) ** -0.5).softmax(-1)
        x = x + lin((att @ val).transpose(1, 2).reshape(B, N, C), f"{b}.attn.proj")
        x = x + lin(F.gelu(lin(ln(x, f"{b}.norm2", 1e-6), f"{b}.mlp.fc1")), f"{b}.mlp.fc2")
    image = ln(x, f"{v}.norm", 1e-6)

    t, nt = "blip.text_encoder", arch["text_heads"]
    h = sd[f"{t}.embeddings.word_embeddings.weight"][ids] + sd[f"{t}.embeddings.position_embeddings.weight"][
        :ids.shape[1]]
    h = ln(h, f"{t}.embeddings.LayerNorm", 1e-12)
    pad = (1.0 - mask[:, None, None, :].float()) * -10000.0  # med.py's extended mask; image tokens all attended

    def attention(hq, hkv, p, add):
        q, k, val = (heads(lin(z, f"{p}.self.{n}"), nt) for z, n in ((hq, "query"), (hkv, "key"), (hkv, "value")))
        probs = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + add).softmax(-1)
        ctx = (probs @ val).transpose(1, 2).reshape(hq.shape)
        return ln(lin(ctx, f"{p}.output.dense") + hq, f"{p}.output.LayerNorm", 1e-12)

    for i in range(arch["text_layers"]):
        b = f"{t}.encoder.layer.{i}"
        a = attention(h, h, f"{b}.attention", pad)
        a = attention(a, image, f"{b}.crossattention", 0.0)
        h = ln(lin(F.gelu(lin(a, f"{b}.intermediate.dense")), f"{b}.output.dense") + a, f"{b}.output.LayerNorm", 1e-12)
    z = h[:, 0]
    for idx in (0, 2, 4, 6, 7):  # the MLP's Linear layers; no activations (commented out in the reference)
        z = lin(z, f"mlp.layers.{idx}")
    return (z.squeeze(-1) - MEAN) / STD


def test_imagereward_matches_the_reference_forward(ir_files):
    from transformers import BertTokenizer

    from bench.judges.imagereward import ImageRewardScorer

    files = {k: str(v) for k, v in ir_files.items()}
    images = _images()
    one = ImageRewardScorer(files["checkpoint"], files["tokenizer"], files["arch"], device="cpu", batch=1)
    got = one.score(images, PROMPTS)
    four = ImageRewardScorer(files["checkpoint"], files["tokenizer"], files["arch"], device="cpu", batch=4)
    assert np.allclose(got, four.score(images, PROMPTS), atol=1e-5)
    assert one.scale == "reward (z-normalised)"

    arch = json.loads(ir_files["arch"].read_text())
    sd = torch.load(ir_files["checkpoint"], weights_only=True)
    tok = BertTokenizer.from_pretrained(ir_files["tokenizer"])
    tok.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    text = tok(PROMPTS, padding="max_length", truncation=True, max_length=35, return_tensors="pt")
    assert text.input_ids.shape == (len(PROMPTS), 35) and (text.input_ids[:, 0] == tok.cls_token_id).all()
    pixels = torch.stack([reference_transform(arch["image_size"])(im) for im in images])
    with torch.no_grad():
        want = _reference_imagereward(sd, arch, pixels, text.input_ids, text.attention_mask)
    assert np.allclose(got, want.numpy(), atol=1e-5), (got, want)
    assert np.ptp(got) > 0.05  # the rewards differ between pairs


def test_imagereward_key_mapping_round_trips_and_fails_loudly(ir_files, tmp_path):
    from bench.judges.imagereward import (
        ImageRewardArch,
        ImageRewardModel,
        ImageRewardScorer,
        local_to_official,
        official_to_local,
    )

    arch = ImageRewardArch.from_json(ir_files["arch"])
    model = ImageRewardModel(arch)
    for key in model.state_dict():
        assert official_to_local(local_to_official(key)) == key
    assert local_to_official("visual_encoder.encoder.layers.1.self_attn.projection.weight") == \
        "blip.visual_encoder.blocks.1.attn.proj.weight"
    assert official_to_local("mlp.layers.7.bias") == "mlp.7.bias"

    sd = torch.load(ir_files["checkpoint"], weights_only=True)
    for broken, name in ((lambda d: d.pop("blip.visual_encoder.blocks.1.attn.proj.weight"), "missing"),
                         (lambda d: d.pop("blip.text_encoder.encoder.layer.0.crossattention.self.key.bias"), "missing"),
                         (lambda d: d.__setitem__("blip.itm_head.weight", torch.zeros(2)), "unknown")):
        bad = dict(sd)
        broken(bad)
        path = tmp_path / f"{name}.pt"
        torch.save(bad, path)
        key = (set(sd) ^ set(bad)).pop()
        scorer = ImageRewardScorer(str(path), str(ir_files["tokenizer"]), str(ir_files["arch"]), device="cpu")
        with pytest.raises(ValueError, match=rf"{name} key\(s\) {re.escape(key)}"):
            scorer.score(_images()[:1], PROMPTS[:1])
    with pytest.raises(ValueError, match=r"ImageReward\.pt.*checkpoint=PATH"):  # offline, nothing cached
        ImageRewardScorer(None, str(ir_files["tokenizer"]), str(ir_files["arch"]), device="cpu").score(
            _images()[:1], PROMPTS[:1])


# ---------------------------------------------------------------- suites end to end

def test_scorer_suite_end_to_end_through_the_runner(clip_dir, tmp_path):
    from rich.console import Console

    from bench.judges.clipscore import CLIPScoreScorer
    from bench.report import print_table
    from bench.runner import run

    rows = [{"id": "r", "prompt": "a red circle", "category": "shapes"},
            {"id": "b", "prompt": "a blue square", "category": "shapes"},
            {"id": "c", "prompt": "a photo of a cat", "category": "animals"}]
    prompt_file = tmp_path / "prompts.json"
    prompt_file.write_text(json.dumps(rows))
    spec = f"clipscore:model={clip_dir},prompts={prompt_file},device=cpu,batch=4"
    out = run("world:oracle", [spec], tmp_path / "runs", images_per_prompt=2)
    r = out.results["clipscore"]
    lines = (out.run_dir / "clipscore" / "scores.jsonl").read_text().splitlines()
    scores = [json.loads(line)["score"] for line in lines]
    direct = CLIPScoreScorer(str(clip_dir), "cpu").score([Image.open(json.loads(line)["filename"]) for line in lines],
                                                         [json.loads(line)["prompt"] for line in lines])
    assert np.allclose(scores, direct, atol=1e-5)  # the stored images, judged again outside the runner
    assert r.n == len(scores) == 6 and set(r.categories) == {"shapes", "animals"}
    assert r.overall == pytest.approx(max(np.mean(scores), 0.0))
    assert r.scale == "100 x cosine, mean clamped at 0" and r.higher_is_better
    per_prompt = json.loads((out.run_dir / "clipscore" / "results.json").read_text())
    assert [p["id"] for p in per_prompt] == ["r", "b", "c"] and all(len(p["rewards"]) == 2 for p in per_prompt)

    saved = json.loads((out.run_dir / "aggregates.json").read_text())["clipscore"]
    assert saved["scale"] == r.scale and SuiteResult.from_json(saved) == r
    again = run("world:oracle", [spec], tmp_path / "runs", images_per_prompt=2)
    assert again.counters.judged == 0 and again.results["clipscore"] == r

    console = Console(record=True, width=200)
    print_table([out], console)
    title = "clipscore  (100 x cosine, mean clamped at 0, higher is better; 95% bootstrap interval; n images)"
    assert " ".join(title.split()) in " ".join(console.export_text().split())  # rich wraps the title


def test_suite_options_and_prompt_files(tmp_path, clip_dir):
    from suites import resolve_suite
    from suites.scorer_suite import load_prompt_file

    (tmp_path / "p.txt").write_text("a red circle\n\n  a cat \n")
    assert [(p.id, p.text) for p in load_prompt_file(tmp_path / "p.txt")] == [("0000", "a red circle"),
                                                                            ("0001", "a cat")]
    ir = resolve_suite("imagereward:checkpoint=/nowhere.pt,batch=2")
    assert len(ir.prompts()) == 100 and ir.prompts()[0].id == "005695-0057" and ir.scale == "reward (z-normalised)"
    pick = resolve_suite(f"pickscore:model={clip_dir},prompts={tmp_path / 'p.txt'}")
    assert pick.scorer.processor == str(clip_dir) and len(pick.prompts()) == 2
    assert resolve_suite("pickscore").scorer.processor == "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    with pytest.raises(ValueError, match="unknown option"):
        resolve_suite("clipscore:modle=x")
    with pytest.raises(ValueError, match="prompts=DIR"):  # offline, nothing cached
        resolve_suite("hps")
    folder = tmp_path / "hps"
    folder.mkdir()
    for s in ("anime", "concept-art", "paintings", "photo"):
        (folder / f"{s}.json").write_text(json.dumps([f"{s} prompt {i}" for i in range(3)]))
    hps = resolve_suite(f"hps:prompts={folder},checkpoint=/x.pt,chunks=10")
    assert [p.id for p in hps.prompts()][:2] == ["anime-00000", "anime-00001"] and len(hps.prompts()) == 12
    assert hps.judge_id == "hps:/x.pt@ViT-H-14|chunks=10"
