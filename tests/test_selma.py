"""SELMA: LoRA experts and exact merging (tiny SD and PixArt), prompt writers and the ROUGE-L filter,
a tiny causal LM writer, and the ``selma`` trainer's rounds through the round loop."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_models import build_tiny_causal_lm, build_tiny_pixart, build_tiny_sd
from trainers.finetune import denoiser_of
from trainers.selma import lora
from trainers.selma.prompts import (
    APIWriter,
    FakeCompletion,
    LocalLMWriter,
    RougeFilter,
    WorldWriter,
    make_writer,
    parse_numbered,
)
from trainers.selma.skills import SKILLS

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_pipes(tmp_path_factory):
    root = tmp_path_factory.mktemp("selma")
    return {"sd": build_tiny_sd(root / "sd"), "pixart": build_tiny_pixart(root / "pixart")}


def load(path):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def expert_deltas(folder):
    """(alpha / r) B @ A per adapted module, read straight from the saved files (not through peft)."""
    cfg = json.loads((folder / "adapter_config.json").read_text())
    sd = load_file(str(folder / "adapter_model.safetensors"))
    out = {}
    for key, a in sd.items():
        if key.endswith(".lora_A.weight"):
            module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            out[module] = cfg["lora_alpha"] / cfg["r"] * sd[key.replace(".lora_A.", ".lora_B.")] @ a
    return out


def train_expert(path, out, seed, rank, alpha, prompt):
    pipe = load(path)
    model = lora.attach_lora(pipe, rank, alpha, seed)
    g = torch.Generator().manual_seed(seed)
    data = [(prompt, torch.rand(3, 64, 64, generator=g) * 2 - 1) for _ in range(4)]
    losses = lora.train_lora(pipe, model, data, steps=2, batch_size=2, lr=1e-2, seed=seed)
    assert len(losses) == 2 and all(x == x for x in losses)
    return lora.save_expert(model, out)


@pytest.mark.parametrize("kind", ["sd", "pixart"])
def test_merged_weights_equal_base_plus_weighted_expert_deltas(tiny_pipes, tmp_path, kind):
    base = tiny_pipes[kind]
    experts = [train_expert(base, tmp_path / "e1", 1, 4, 8, "a photo of two red circles"),
               train_expert(base, tmp_path / "e2", 2, 2, 2, "a photo of a square above a circle")]
    deltas = [expert_deltas(e) for e in experts]
    w0 = {k: v.clone() for k, v in denoiser_of(load(base)).state_dict().items()}
    n_attn = sum(k.endswith(".to_q.weight") for k in w0)
    assert n_attn > 0 and len(deltas[0]) == len(deltas[1]) == 4 * n_attn  # to_q, to_k, to_v, to_out.0
    assert min(max(float(d.abs().max()) for d in ds.values()) for ds in deltas) > 1e-3  # non-trivial deltas

    for weights in (None, [0.7, 0.3]):
        pipe = load(base)
        used = lora.merge_experts(pipe, experts, weights)
        assert used == (weights or [0.5, 0.5])
        out = tmp_path / f"merged-{weights}"
        pipe.save_pretrained(out)  # a plain pipeline folder: reload it as the diffusers candidate would
        merged = denoiser_of(load(out)).state_dict()
        assert set(merged) == set(w0)  # no LoRA keys left
        for key, w in w0.items():
            module = key.removesuffix(".weight")
            if module in deltas[0]:
                want = w + sum(wi * d[module] for wi, d in zip(used, deltas, strict=True))
                assert float((merged[key] - want).abs().max()) < 1e-5, key
                assert float((merged[key] - w).abs().max()) > 1e-4, key  # the experts did change it
            else:
                assert torch.equal(merged[key], w), key


@pytest.mark.filterwarnings("ignore:The density 1.0 is greater")
def test_peft_linear_is_not_exact_and_the_other_merges(tiny_pipes, tmp_path):
    from peft import PeftModel

    base = tiny_pipes["sd"]
    experts = [train_expert(base, tmp_path / "e1", 1, 4, 8, "a photo of a red circle"),
               train_expert(base, tmp_path / "e2", 2, 4, 8, "a photo of three squares")]
    deltas = [expert_deltas(e) for e in experts]
    model = PeftModel.from_pretrained(denoiser_of(load(base)), str(experts[0]), adapter_name="expert_0")
    model.load_adapter(str(experts[1]), adapter_name="expert_1")
    model.add_weighted_adapter(["expert_0", "expert_1"], [0.5, 0.5], "lin", combination_type="linear")
    module = next(iter(deltas[0]))
    got = model.base_model.model.get_submodule(module).get_delta_weight("lin")
    want = 0.5 * deltas[0][module] + 0.5 * deltas[1][module]
    assert float((got - want).norm() / want.norm()) > 0.05  # peft's linear mixes A and B: cross terms

    def merged_weight(method, **kw):
        pipe = load(base)
        lora.merge_experts(pipe, experts, method=method, **kw)
        return denoiser_of(pipe).get_submodule(module).weight.detach().clone()

    linear = merged_weight("linear")
    assert torch.allclose(merged_weight("dare_linear", density=1.0), linear, atol=1e-6)  # DARE at density 1
    dare = merged_weight("dare_linear", density=0.5, seed=3)
    assert torch.equal(dare, merged_weight("dare_linear", density=0.5, seed=3))  # seeded
    assert not torch.allclose(dare, linear, atol=1e-6)
    assert not torch.allclose(merged_weight("ties", density=0.5), linear, atol=1e-6)
    with pytest.raises(ValueError, match="unknown merge method"):
        lora.merge_experts(load(base), experts, method="svd")


def test_rouge_filter_rejects_near_duplicates_only():
    f = RougeFilter(0.8)
    assert f.accept("a red apple on a wooden table")
    assert not f.accept("a red apple on the wooden table")  # ROUGE-L F 6/7
    assert not f.accept("a red apple on a wooden table")  # a copy
    assert f.accept("two dogs running across a snowy field")
    assert f.accept("a photo of three circles") and f.accept("a photo of four circles")  # F exactly 0.8: kept
    assert len(f.pool) == 4
    assert RougeFilter(0.9, ["a red apple on a wooden table"]).accept("a red apple on the wooden table")
    assert RougeFilter(None, ["same words here"]).accept("same words here")


def test_parse_numbered_drops_junk():
    reply = ("Sure! Here you go:\n1. a cat on a mat\n2) **two dogs in a park**\n\nsome junk line\n3.\n"
             '4: "a red bus"\n  5 . spaced   out line\n- a bullet\nThanks!')
    assert parse_numbered(reply) == ["a cat on a mat", "two dogs in a park", "a red bus", "spaced out line"]


def test_world_writer_is_deterministic_and_diverse():
    from bench.world.grammar import parse_prompt

    w = WorldWriter(0.95)
    a = w.write(SKILLS["color_attr"], 12, seed=5)
    assert a == WorldWriter(0.95).write(SKILLS["color_attr"], 12, seed=5) and len(a) == len(set(a)) == 12
    assert a != w.write(SKILLS["color_attr"], 12, seed=6)
    assert all(len(parse_prompt(p).objects) == 2 and all(o.color for o in parse_prompt(p).objects) for p in a)
    counting = WorldWriter(0.8).write(SKILLS["counting"], 30, seed=0)  # the grammar runs out of diverse prompts
    assert 0 < len(counting) < 30 and all(parse_prompt(p).objects[0].count >= 2 for p in counting)
    scorer = RougeFilter(0.8)
    assert all(scorer.accept(p) for p in counting)
    with pytest.raises(ValueError, match="no world task"):
        w.write(SKILLS["long_text"], 3, seed=0)


def test_fake_api_writer_loop():
    fake = FakeCompletion()
    w = APIWriter(fake, threshold=0.8, per_request=5)
    out = w.write(SKILLS["commonsense"], 12, seed=1)
    assert len(out) == 12 and out == APIWriter(FakeCompletion(), 0.8, per_request=5).write(
        SKILLS["commonsense"], 12, seed=1)
    s = w.stats
    assert s["candidates"] == s["accepted"] + s["rejected_rules"] + s["rejected_rouge"]
    assert s["rejected_rouge"] >= s["requests"] - 1 and s["rejected_rules"] >= 1  # the copies and "ok" lines
    assert "Skill to practise: scenes that break common sense" in fake.requests[0]
    assert any(seed in fake.requests[0] for seed in SKILLS["commonsense"].seeds)
    assert any(p in req for req in fake.requests[1:] for p in out)  # accepted prompts become examples
    assert all(RougeFilter(0.8, [q for q in out if q != p]).max_score(p) <= 0.8 + 1e-9 for p in out)
    with pytest.raises(ValueError, match="unknown prompt writer"):
        make_writer("gpt")


def test_tiny_causal_lm_writer_end_to_end(tmp_path):
    path = build_tiny_causal_lm(tmp_path / "lm")
    runs = []
    for _ in range(2):
        w = make_writer(f"lm:{path}", 0.8, max_new_tokens=60)
        assert isinstance(w, LocalLMWriter) and w.primed  # no chat template: the request ends with "1."
        w.max_requests, w.per_request = 3, 5
        runs.append((w.write(SKILLS["counting"], 4, seed=0), dict(w.stats)))
    (out, stats), (out2, stats2) = runs
    assert (out, stats) == (out2, stats2)  # seeded sampling
    assert stats["requests"] == 3 or len(out) == 4
    assert stats["candidates"] >= 1  # the reply continues item "1." of the request
    assert stats["candidates"] == stats["accepted"] + stats["rejected_rules"] + stats["rejected_rouge"]
    assert all(3 <= len(p.split()) <= SKILLS["counting"].max_words and p.isprintable() for p in out)
    greedy = LocalLMWriter(str(path), temperature=0.0, max_new_tokens=30, max_requests=1, per_request=3)
    reply = greedy._ask("Examples:\n1. two cats\nNew descriptions:\n1.", seed=0)
    assert isinstance(reply, str) and reply == greedy._ask("Examples:\n1. two cats\nNew descriptions:\n1.", seed=9)


def test_selma_rounds_through_the_loop(tiny_pipes, tmp_path):
    from trainers import resolve_trainer
    from trainers.loop import LoopConfig, RoundContext, RoundLoop

    train_round = resolve_trainer("selma")
    init = tiny_pipes["sd"]
    opts = dict(skills=["counting", "colors"], prompts_per_skill=2, rouge_threshold=0.95, images_per_prompt=1,
                gen_steps=2, guidance=2.0, steps=2, batch_size=2, rank=4, lr=1e-2)
    cfg = LoopConfig(init=str(init), work_dir=tmp_path / "w", rounds=4, suites=["geneval-world"],
                     images_per_prompt=1, limit=1, candidate_options="steps=2", options=opts)
    rounds = RoundLoop(cfg, train_round, log=lambda m: None).run()
    assert [r["decision"] for r in rounds] == ["promote"] * 4
    m = [json.loads((tmp_path / "w" / f"round-{i:03d}" / "data_manifest.json").read_text()) for i in (1, 2, 3, 4)]
    assert [x["kind"] for x in m] == ["expert", "expert", "merge", "mixed"]
    assert [x["skill"] for x in m] == ["counting", "colors", "merge", "mixed"]
    assert all(x["base"] == str(init) for x in m)  # every round starts from the loop's first checkpoint
    assert rounds[1]["parent"].endswith("round-001")
    assert m[0]["prompts"] == {"counting": 2} and m[0]["images"] == m[0]["data_size"] == 2 and m[0]["steps"] == 2
    assert m[3]["prompts"] == {"counting": 2, "colors": 2} and m[3]["steps"] == 4 and m[3]["data_size"] == 4
    assert m[2]["weights"] == {"counting": 0.5, "colors": 0.5} and m[2]["data_size"] == 4
    prompts = [json.loads((tmp_path / "w" / f"round-{i:03d}" / "selma/prompts.json").read_text()) for i in (1, 2, 4)]
    assert prompts[2] == prompts[0] | prompts[1]  # the baseline trains on the experts' prompts
    # the merged round's checkpoint is W + (Delta_counting + Delta_colors) / 2
    deltas = [expert_deltas(tmp_path / "w" / f"round-{i:03d}" / "selma/expert") for i in (1, 2)]
    w0 = denoiser_of(load(init)).state_dict()
    merged = denoiser_of(load(tmp_path / "w" / "round-003")).state_dict()
    for module, d in deltas[0].items():
        want = w0[module + ".weight"] + 0.5 * d + 0.5 * deltas[1][module]
        assert float((merged[module + ".weight"] - want).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="plan has 4 rounds"):
        train_round(RoundContext(5, str(init), tmp_path / "x", None, opts))
    with pytest.raises(ValueError, match="unknown option"):
        train_round(RoundContext(1, str(init), tmp_path / "x", None, dict(opts, stepz=3)))


def test_object_weight_reaches_the_lora_loss(tiny_pipes):
    """``fg_weight`` weighs the objects the world detector finds in the self-generated images: the
    same draws give another loss, and no weight gives the plain one."""
    from bench.world.render import render
    from bench.world.scene import ObjectSpec, SceneSpec

    img, _ = render(SceneSpec((ObjectSpec("circle", "red"), ObjectSpec("square", "blue"))), 5)
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 127.5 - 1
    data = [("a photo of a red circle and a blue square", x)] * 2

    def first_loss(fg_weight):
        pipe = load(tiny_pipes["sd"])
        model = lora.attach_lora(pipe, 4, 4, seed=0)
        return lora.train_lora(pipe, model, data, steps=1, batch_size=2, lr=1e-3, seed=0, fg_weight=fg_weight)[0]

    plain = first_loss(0.0)
    assert first_loss(0.0) == pytest.approx(plain, rel=1e-6)
    assert first_loss(9.0) != pytest.approx(plain, rel=1e-3)


def test_world_filter_keeps_only_images_the_judges_pass(tiny_pipes, tmp_path):
    """``image_filter = "world"``: a faithful render stays, a miscoloured one and a prompt outside
    the world grammar go; a skill left with no image stops the round, naming the skill."""
    from bench.candidates import resolve_candidate
    from bench.types import Prompt
    from trainers import resolve_trainer
    from trainers.loop import RoundContext
    from trainers.selma.trainer import world_filter

    def as_tensor(spec, prompt, seed):
        img = resolve_candidate(spec).generate([(Prompt("x", prompt, "c"), seed)])[0]
        return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).float() / 127.5 - 1

    prompt = "a photo of a red circle"
    good = [(prompt, as_tensor("world:oracle", prompt, s)) for s in (1, 2)]
    bad = (prompt, as_tensor("world:noisy:color=1.0", prompt, 3))
    outside = ("a watercolour of a lighthouse", good[0][1])
    kept = world_filter([good[0], bad, good[1], outside])
    assert [p for p, _ in kept] == [prompt, prompt]
    assert all(k[1] is g[1] for k, g in zip(kept, good, strict=True))

    opts = dict(skills=["colors"], prompts_per_skill=2, rouge_threshold=0.95, images_per_prompt=1, gen_steps=2,
                steps=2, batch_size=2, rank=4, image_filter="world")
    with pytest.raises(ValueError, match="passed none of skill 'colors'"):  # random weights draw no red circle
        resolve_trainer("selma")(RoundContext(1, str(tiny_pipes["sd"]), tmp_path / "r", None, opts))
    with pytest.raises(ValueError, match="image_filter must be one of none, world"):
        resolve_trainer("selma")(RoundContext(1, str(tiny_pipes["sd"]), tmp_path / "r", None,
                                              dict(opts, image_filter="vqa")))
