"""The world diffusion model's builders and training steps, at tiny size, through real classes."""

import numpy as np
import pytest
import torch
from PIL import Image

from bench.candidates import resolve_candidate
from bench.types import Prompt
from bench.world.grammar import parse_prompt
from trainers.world_model import build
from trainers.world_model.data import sample_batch

TINY = dict(text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
            pixart=dict(num_attention_heads=2, attention_head_dim=16, num_layers=1, patch_size=4))


def test_every_world_word_is_one_token():
    tok = build.build_tokenizer()
    for word in build.world_words():
        assert len(tok.tokenize(word)) == 1, word
    ids = tok("a photo of two red circles left of a blue square").input_ids
    assert len(ids) == 2 + 11  # start, 11 words, end


def test_training_data_is_in_the_world_grammar():
    prompts, x = sample_batch(np.random.default_rng(0), 8)
    assert x.shape == (8, 3, 64, 64) and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert all(parse_prompt(p) is not None for p in prompts)


@pytest.fixture(scope="module")
def tiny_world_model(tmp_path_factory):
    cfg = build.get_config("pixart32", **TINY)
    parts = build.build_components(cfg)
    pipe = build.build_pipeline(cfg, **parts)
    path = tmp_path_factory.mktemp("wm") / "pipe"
    pipe.save_pretrained(path)
    return cfg, path


def test_saved_model_loads_as_a_diffusers_candidate(tiny_world_model):
    _, path = tiny_world_model
    cand = resolve_candidate(f"diffusers:{path}:steps=2,guidance=4,batch=4")
    images = cand.generate([(Prompt("p", "a photo of a red circle", "colors"), s) for s in range(3)])
    assert all(im.size == (64, 64) for im in images)
    assert type(cand.pipe).__name__ == "PixArtAlphaPipeline"


def test_train_step_runs_and_changes_the_weights(tiny_world_model):
    from trainers.world_model.train import Trainer

    cfg, _ = tiny_world_model
    trainer = Trainer(cfg, lr=1e-3)
    before = [p.detach().clone() for p in trainer.denoiser.parameters()]
    loss = trainer.train_step(4)
    assert np.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.denoiser.parameters(), strict=True))


def test_a_pretrained_text_encoder_can_start_the_model_frozen(tiny_world_model, tmp_path):
    """--text-encoder PATH --text-lr-mult 0: the text tower of a saved CLIP (the world CLIP's
    layout) loads through the real loader, stays fixed while the denoiser trains, and is what
    the saved pipeline carries."""
    from transformers import CLIPConfig, CLIPModel

    from trainers.world_model.train import Trainer, load_text_encoder

    cfg, _ = tiny_world_model
    tok = build.build_tokenizer(cfg["text"]["max_length"])
    text = build.build_text_encoder(cfg, tok).config
    vision = dict(image_size=64, patch_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=2)
    CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision)).save_pretrained(tmp_path / "clip")
    te = load_text_encoder(str(tmp_path / "clip"))
    start = {k: v.clone() for k, v in te.state_dict().items()}
    trainer = Trainer(cfg, lr=1e-3, text_lr_mult=0, text_encoder=te)
    den_before = [p.detach().clone() for p in trainer.denoiser.parameters()]
    trainer.train_step(4)
    trainer.train_step(4)
    assert all(torch.equal(start[k], v) for k, v in te.state_dict().items())
    assert any(not torch.equal(a, b) for a, b in zip(den_before, trainer.denoiser.parameters(), strict=True))
    trainer.save(tmp_path / "model")
    saved = load_text_encoder(str(tmp_path / "model"))
    assert all(torch.equal(start[k], v) for k, v in saved.state_dict().items())


def test_high_noise_draws_that_share_of_timesteps_from_the_noisier_half(tiny_world_model):
    from trainers.world_model.train import Trainer

    cfg, _ = tiny_world_model
    seen: list[torch.Tensor] = []
    for share in (0.0, 1.0):
        trainer = Trainer(cfg, lr=1e-3, high_noise=share)
        predict = trainer.predict
        trainer.predict = lambda noisy, t, prompts, f=predict: seen.append(t) or f(noisy, t, prompts)
        for _ in range(3):
            trainer.train_step(8)
    uniform, high = torch.cat(seen[:3]), torch.cat(seen[3:])
    assert bool((high >= 500).all()) and bool((uniform < 500).any())


def test_scene_kind_mix_reweights_the_training_scenes(tiny_world_model):
    """``--kinds`` (saved as the config's ``kinds``) sets the share of each scene kind; the default
    mix draws exactly the scenes it drew before the option existed; bad mixes name what is wrong."""
    from trainers.world_model.data import KINDS, parse_kinds, sample_spec
    from trainers.world_model.train import Trainer

    assert parse_kinds("single=0.5, pair=0.5") == {"single": 0.5, "count": 0.0, "pair": 0.5, "relation": 0.0}
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [sample_spec(a) for _ in range(30)] == [sample_spec(b, dict(KINDS)) for _ in range(30)]
    rng = np.random.default_rng(0)
    singles = [sample_spec(rng, parse_kinds("single=1")) for _ in range(40)]
    assert all(len(s.objects) == 1 and s.objects[0].count == 1 for s in singles)
    for bad, named in (("singles=1", "'singles'"), ("single=x", "'x'"), ("single=-1", ">= 0"),
                       ("pair=0", "positive")):
        with pytest.raises(ValueError, match=named):
            parse_kinds(bad)

    cfg, _ = tiny_world_model
    trainer = Trainer(dict(cfg, kinds=parse_kinds("count=1")), lr=1e-3)
    drawn: list[str] = []
    loss = trainer.loss
    trainer.loss = lambda prompts, x, mask: drawn.extend(prompts) or loss(prompts, x, mask)
    trainer.train_step(6)
    numbers = ("two", "three", "four")
    assert len(drawn) == 6 and all(any(f" {n} " in p for n in numbers) for p in drawn), drawn


def test_model_card_adds_up_a_resumed_training_log(tmp_path):
    """A run resumed to more steps appends a segment whose clock restarts; the card adds the minutes."""
    import json

    from trainers.world_model.ship import _steps_text, log_summary

    rows = [{"step": 50, "loss": 0.9, "elapsed_min": 1.0}, {"step": 100, "loss": 0.8, "elapsed_min": 2.0},
            {"step": 150, "loss": 0.7, "elapsed_min": 1.5}, {"step": 200, "loss": 0.6, "elapsed_min": 3.0}]
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = log_summary(log)
    assert (summary["steps"], summary["minutes"], summary["final_loss"]) == (200, 5.0, 0.6)
    assert [(g["from"], g["steps"]) for g in summary["segments"]] == [(0, 100), (100, 200)]
    assert "in 2 runs (steps 0-100 in 2.0 min, then steps 100-200 in 3.0 min)" in _steps_text(summary)
    log.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    assert _steps_text(log_summary(log)).startswith("100 steps of batch 32, AdamW, cosine schedule")


def test_model_card_names_enlarged_training_objects():
    """The saved config's object_scale reaches the card; a model trained at the world's own sizes
    says nothing about it."""
    from trainers.world_model.ship import _kinds_text, _objects_text

    assert "1.8× larger" in _objects_text({"object_scale": 1.8}) and "--object-scale 1.8" in _objects_text(
        {"object_scale": 1.8})
    assert _objects_text({}) == _objects_text({"object_scale": 1.0}) == ""
    mix = {"single": 0.55, "count": 0.1, "pair": 0.2, "relation": 0.15}
    assert "single 0.55, count 0.1, pair 0.2, relation 0.15 (`--kinds`" in _kinds_text({"kinds": mix})
    assert _kinds_text({}) == ""


def test_fg_fade_keeps_the_weight_then_fades_it_to_zero():
    from trainers.world_model.train import fg_weight_at, parse_fade

    fade = parse_fade("1000:2000")
    assert [fg_weight_at(s, 9.0, fade) for s in (0, 999, 1000, 1500, 2000, 4000)] == [9, 9, 9, 4.5, 0, 0]
    assert fg_weight_at(4000, 9.0, parse_fade("")) == 9.0
    for bad in ("2000:1000", "1000", "a:b"):
        with pytest.raises(SystemExit, match="--fg-fade"):
            parse_fade(bad)
    # the model card reads the schedule back from the training log
    from trainers.world_model.ship import _loss_text

    rows = [{"step": s, "fg_weight": fg_weight_at(s, 9.0, fade)} for s in range(50, 3001, 50)]
    assert "weighted 10× up to step 1000, the weight then faded to none by step 2000" in _loss_text(rows)
    assert "weighted 10× (`--fg-weight 9`)" in _loss_text(rows[:5])


def test_export_stores_fp16_weights_that_load_as_fp32(tiny_world_model, tmp_path):
    from safetensors.torch import load_file

    from trainers.world_model.ship import export

    _, path = tiny_world_model
    size = export(path, tmp_path / "shipped")
    files = sorted((tmp_path / "shipped").rglob("*.safetensors"))
    assert files and size == sum(f.stat().st_size for f in (tmp_path / "shipped").rglob("*") if f.is_file())
    assert all(v.dtype == torch.float16 for f in files for v in load_file(f).values() if v.is_floating_point())
    prompt = (Prompt("p", "a photo of a red circle", "colors"), 0)
    images = [np.asarray(resolve_candidate(f"diffusers:{p}:steps=2,guidance=4").generate([prompt])[0], float)
              for p in (path, tmp_path / "shipped")]
    assert np.abs(images[0] - images[1]).mean() < 2  # of 255: fp16 storage moves pixels by a rounding step


def test_model_card_samples_are_the_scored_runs_own_images(tmp_path):
    """ship.samples_grid lays out the run's stored images: one row per task, the first prompts' first
    image each, enlarged without blurring (each cell is an exact 2x copy of a stored image)."""
    from bench.runner import run
    from bench.store import image_hash
    from trainers.world_model.ship import samples_grid

    outcome = run(resolve_candidate("world:oracle"), ["geneval-world"], tmp_path, images_per_prompt=2, limit=12)
    tasks = list(outcome.results["geneval-world"].categories)
    grid = samples_grid(outcome.run_dir, per_task=2)
    assert grid.size == (2 * 128, len(tasks) * 128)
    stored = {p.stem for p in (outcome.run_dir / "images").rglob("*.png")}
    for r in range(len(tasks)):
        for c in range(2):
            cell = grid.crop((c * 128, r * 128, (c + 1) * 128, (r + 1) * 128)).resize((64, 64), Image.NEAREST)
            assert image_hash(cell) in stored, (tasks[r], c)


def test_model_card_follows_a_warm_started_gpu_run(tmp_path):
    """An ``--init`` run counts its steps from 0 again; the card places them after the runs before
    it, with their own batch and device, and the object weight's schedule keeps its overall steps."""
    import json

    from trainers.world_model.ship import _loss_text, _steps_text, log_summary

    rows = [{"step": 500, "loss": 0.9, "elapsed_min": 1.0, "fg_weight": 3.0},
            {"step": 1000, "loss": 0.8, "elapsed_min": 2.0, "fg_weight": 0.0},
            {"step": 100, "batch": 128, "device": "cuda", "loss": 0.7, "elapsed_min": 0.5, "fg_weight": 0.0},
            {"step": 400, "batch": 128, "device": "cuda", "loss": 0.6, "elapsed_min": 1.5, "fg_weight": 0.0}]
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = log_summary(log)
    assert (summary["steps"], summary["minutes"]) == (1400, 3.5)
    assert [(g["from"], g["steps"], g["batch"]) for g in summary["segments"]] == [(0, 1000, 32), (1000, 1400, 128)]
    text = _steps_text(summary)
    assert "1400 steps in 2 runs (steps 0-1000 of batch 32 in 2.0 min, then steps 1000-1400 of batch 128 " \
           "on a GPU in 1.5 min)" in text
    assert "faded to none by step 1000" in _loss_text(summary["rows"])


def test_training_starts_from_a_saved_model_with_rendering_workers(tiny_world_model, tmp_path):
    """``--init`` loads a saved pipeline's weights and config (a warm start); ``--workers`` renders
    the batches in worker processes, each its own reproducible stream; the log records the batch."""
    import json
    import shutil

    from safetensors.torch import load_file

    from trainers.world_model.data import SceneBatches
    from trainers.world_model.train import Trainer, main

    cfg, path = tiny_world_model
    trainer = Trainer(cfg, init=str(path))
    saved = load_file(path / "transformer" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(v, saved[k]) for k, v in trainer.denoiser.state_dict().items())
    with pytest.raises(SystemExit, match="no unet"):
        Trainer(build.get_config("unet32"), init=str(path))

    a, b = iter(SceneBatches(3, seed=1, start=5)), iter(SceneBatches(3, seed=1, start=5))
    first = next(a)
    assert first[0] == next(b)[0] and torch.equal(first[1], next(iter(SceneBatches(3, seed=1, start=5)))[1])
    assert next(iter(SceneBatches(3, seed=1, start=6)))[0] != first[0]

    out, model = tmp_path / "warm", tmp_path / "model"
    shutil.copytree(path, model)
    with pytest.raises(SystemExit, match="no world_model_config.json"):
        main(["--init", str(model), "--out", str(out)])
    (model / "world_model_config.json").write_text(json.dumps(cfg))
    main(["--init", str(model), "--vae", str(model), "--out", str(out), "--steps", "2", "--batch", "2",
          "--workers", "1", "--log-every", "1", "--val-every", "0", "--warmup", "1"])
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["batch"], r["device"]) for r in rows] == [(1, 2, "cpu"), (2, 2, "cpu")]
    assert json.loads((out / "world_model_config.json").read_text())["pixart"] == cfg["pixart"]


def test_vae_training_writes_a_loadable_vae_with_its_latent_scale(tmp_path):
    """train_vae: a few steps on the chosen device, then an AutoencoderKL whose config holds
    1 / std of its latents, so the diffusion model sees unit-variance latents."""
    from diffusers import AutoencoderKL

    from trainers.world_model import train_vae

    train_vae.main(["--config", "unet16", "--out", str(tmp_path / "vae"), "--steps", "2", "--batch", "4",
                    "--device", "cpu", "--log-every", "1"])
    vae = AutoencoderKL.from_pretrained(tmp_path / "vae")
    _, x = sample_batch(np.random.default_rng(1), 64)
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
    assert vae.config.scaling_factor == pytest.approx(1 / float(z.std()), rel=0.25)
