"""Fine-tuning's optimiser options on a tiny Stable Diffusion pipeline: only the given parameters
step, warm-up scales the first step, EMA writes the averaged weights back."""

import pytest
import torch

from tests.tiny_models import build_tiny_sd
from trainers.continual import world_batches
from trainers.finetune import OptimizerOptions, cycle, denoiser_of, finetune


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return build_tiny_sd(tmp_path_factory.mktemp("ft") / "sd")


def load(path):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def step_size(path, steps, **optim):
    """Mean absolute change of the UNet's conv_in weights after ``steps`` steps at lr 1e-3."""
    pipe = load(path)
    w0 = denoiser_of(pipe).conv_in.weight.detach().clone()
    text0 = {k: v.clone() for k, v in pipe.text_encoder.state_dict().items()}
    finetune(pipe, world_batches("colors", steps, 2, seed=0), lr=1e-3, seed=0,
             optim=OptimizerOptions(weight_decay=0.0, **optim))
    assert all(torch.equal(v, pipe.text_encoder.state_dict()[k]) for k, v in text0.items())  # not trained
    return float((denoiser_of(pipe).conv_in.weight.detach() - w0).abs().mean())


def test_warmup_scales_the_first_step(tiny_sd):
    # Adam's first step moves each weight by about lr; a 10-step warm-up starts at lr / 10
    full, warm = step_size(tiny_sd, 1), step_size(tiny_sd, 1, warmup_steps=10)
    assert full == pytest.approx(1e-3, rel=0.2)
    assert warm / full == pytest.approx(0.1, rel=0.1)


def test_ema_writes_the_average_back(tiny_sd):
    plain, ema = step_size(tiny_sd, 3), step_size(tiny_sd, 3, ema=0.9)
    # steady steps d: the EMA (decay 0.9) after three is 0.1 (0.81 + 0.9 x 2 + 3) d = 0.56 d against 3 d
    assert ema / plain == pytest.approx(0.187, rel=0.3)


def test_only_given_parameters_step_and_options_are_checked(tiny_sd):
    pipe = load(tiny_sd)
    unet = denoiser_of(pipe)
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    finetune(pipe, world_batches("colors", 2, 2, seed=0), lr=1e-3, params=[unet.conv_out.weight])
    moved = [k for k, v in unet.state_dict().items() if not torch.equal(v, before[k])]
    assert moved == ["conv_out.weight"]
    with pytest.raises(ValueError, match="mixed_precision must be no, bf16 or fp16"):
        OptimizerOptions(mixed_precision="fp8")
    assert [len(b) for b in cycle(5, 3, 4, seed=0)] == [4, 4, 4]
    first = [i for b in cycle(5, 3, 4, seed=0) for i in b][:10]
    assert sorted(first[:5]) == sorted(first[5:10]) == [0, 1, 2, 3, 4]  # whole passes, each shuffled


def test_object_weighted_loss_is_a_weighted_mean(tiny_sd):
    """Weights 1 + fg_weight on the objects' latent positions: all-object or no-object masks give
    the plain loss (a uniform weight), a partial mask the weighted mean by hand."""
    import torch.nn.functional as F

    from trainers.finetune import denoising_loss

    pipe = load(tiny_sd)
    prompts, images, masks = next(world_batches("two_object", 1, 2, seed=0))
    assert masks.shape == (2, 1, 64, 64) and 0 < float(masks.mean()) < 0.5  # objects are a few percent

    def loss(**kw):
        with torch.no_grad():
            return float(denoising_loss(pipe, prompts, images, torch.Generator().manual_seed(0), **kw))

    plain = loss()
    assert loss(object_masks=torch.ones_like(masks), fg_weight=9) == pytest.approx(plain, rel=1e-5)
    assert loss(object_masks=torch.zeros_like(masks), fg_weight=9) == pytest.approx(plain, rel=1e-5)
    weighted = loss(object_masks=masks, fg_weight=9)
    assert weighted != pytest.approx(plain, rel=1e-3)
    # by hand: the same draws, per-position squared errors, weights from the max-pooled mask
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        pred, target = _pred_and_target(pipe, prompts, images, gen)
        sq = F.mse_loss(pred, target, reduction="none")
    w = 1 + 9 * F.adaptive_max_pool2d(masks, sq.shape[-2:])
    assert weighted == pytest.approx(float(((sq * w).sum((1, 2, 3)) / (w.sum((1, 2, 3)) * sq.shape[1])).mean()),
                                     rel=1e-5)


def _pred_and_target(pipe, prompts, images, gen):
    """denoising_loss's draws, in its order (latents, caption drop, noise, timesteps), for a check."""
    from trainers.finetune import encode_text

    latents = pipe.vae.encode(images).latent_dist.sample(generator=gen) * pipe.vae.config.scaling_factor
    drop = (torch.rand(latents.shape[0], generator=gen) < 0.1).tolist()
    emb, _ = encode_text(pipe, ["" if d else p for p, d in zip(prompts, drop, strict=True)])
    noise = torch.randn(latents.shape, generator=gen)
    t = torch.randint(0, pipe.scheduler.config.num_train_timesteps, (latents.shape[0],), generator=gen)
    pred = denoiser_of(pipe)(pipe.scheduler.add_noise(latents, noise, t), t, encoder_hidden_states=emb).sample
    return pred, noise  # the tiny pipeline predicts the noise


def test_foreground_masks_find_the_rendered_objects():
    """Images without their scene (a model's samples) get object masks from the world detector;
    on renders they match the scene's own masks."""
    from trainers.world_model.data import foreground_masks

    _, images, masks = next(world_batches("two_object", 1, 4, seed=3))
    found = foreground_masks(images)
    assert found.shape == masks.shape and found.dtype == torch.bool
    inter, union = (found & masks.bool()).sum((1, 2, 3)), (found | masks.bool()).sum((1, 2, 3))
    assert (inter / union).min() > 0.9
    assert not foreground_masks(torch.full((1, 3, 64, 64), 0.3)).any()  # a blank image has no objects


def test_world_batches_draw_objects_at_the_tuned_models_scale():
    """A model trained on enlarged objects is fine-tuned on renders at its own scale: the same
    prompts and seeds, objects covering well over twice the area at scale 1.8."""
    p1, _, m1 = next(world_batches("colors", 1, 16, seed=5))
    p2, _, m2 = next(world_batches("colors", 1, 16, seed=5, object_scale=1.8))
    assert p1 == p2
    assert float(m2.mean()) > 2.5 * float(m1.mean())
