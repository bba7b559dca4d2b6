"""LoRA experts on a pipeline's denoiser (UNet2DConditionModel or PixArtTransformer2DModel), and merging.

An expert is a peft LoRA on the attention projections ``to_q``, ``to_k``, ``to_v``,
``to_out.0`` (self- and cross-attention), Gaussian init (B = 0, so training starts from the
base). It is saved in peft's format (``adapter_model.safetensors`` + ``adapter_config.json``),
which loads back onto either denoiser class with ``PeftModel.from_pretrained``.

Merging into the base weights W, per adapted layer, with Delta_i = (alpha_i / r_i) B_i A_i:

* ``linear`` (default, weights 1/N): exactly W + sum_i w_i Delta_i, through peft's ``cat``
  combination (the factors are stacked, so B'A' = sum_i w_i s_i B_i A_i with no cross terms).
  peft's own ``linear`` combination is not this: it averages the A and the B factors
  separately, which adds cross terms B_i A_j.
* ``ties`` and ``dare_linear``: peft's ``merge_utils.ties`` / ``dare_linear`` applied to the full
  deltas Delta_i (the task vectors the papers define), then W += the result. Neither is a sum:
  TIES keeps the top ``density`` fraction of each delta by magnitude, elects a sign per entry
  and averages the entries that agree with it (so its default weights are 1, not 1/N); DARE
  drops entries at random with probability 1 - ``density`` and rescales the rest by
  1/``density`` (seeded), then sums with the weights (default 1/N). DARE at density 1 is
  ``linear``. (peft's ``add_weighted_adapter(combination_type="ties")`` instead prunes the A and
  B factors separately, and its ``*_svd`` variants truncate the rank; neither is used here.)

In every case the LoRA layers are then removed, leaving plain diffusers modules that
``save_pretrained`` writes as a normal pipeline folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from trainers.finetune import OptimizerOptions, cycle, denoiser_of, finetune
from trainers.world_model.data import foreground_masks

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
METHODS = ("linear", "ties", "dare_linear")


def lora_config(rank: int = 16, alpha: float | None = None, targets: Sequence[str] = TARGETS) -> LoraConfig:
    """A peft ``LoraConfig`` for the attention projections (alpha defaults to the rank: scale 1)."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank, init_lora_weights="gaussian",
                      target_modules=list(targets), lora_dropout=0.0)


def attach_lora(pipe, rank: int = 16, alpha: float | None = None, seed: int = 0,  # noqa: ANN001
                targets: Sequence[str] = TARGETS) -> PeftModel:
    """Inject a fresh trainable LoRA into the pipeline's denoiser, in place (the pipeline keeps its
    module, now with LoRA layers); only the LoRA factors require grad. Returns the PeftModel."""
    from peft import get_peft_model
    from peft.tuners.lora import LoraLayer

    denoiser = denoiser_of(pipe)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_peft_model(denoiser, lora_config(rank, alpha, targets))
    n = sum(isinstance(m, LoraLayer) for m in denoiser.modules())
    if n == 0:
        raise ValueError(f"no LoRA layer attached to {type(denoiser).__name__} (targets {list(targets)})")
    return model


def train_lora(pipe, model: PeftModel, data: Sequence[tuple[str, torch.Tensor]],  # noqa: ANN001
               steps: int, batch_size: int, lr: float = 3e-4, seed: int = 0, fg_weight: float = 0.0) -> list[float]:
    """``steps`` AdamW steps (constant lr, no weight decay, as the reference) of the denoising loss
    on the LoRA factors only, on batches drawn from ``data`` (prompt, image in [-1, 1] of shape
    (3, H, W)) in seeded passes. ``fg_weight`` weighs the objects the world detector finds in
    each image (world images only; see :func:`trainers.finetune.denoising_loss`)."""
    if not data:
        raise ValueError("no training data for the LoRA")
    for m in (pipe.vae, pipe.text_encoder):
        m.requires_grad_(False).eval()
    params = [p for p in model.parameters() if p.requires_grad]
    take = min(batch_size, len(data))
    images = torch.stack([x for _, x in data])
    masks = foreground_masks(images) if fg_weight else None
    batches = (([data[i][0] for i in idx], images[idx], *([masks[idx]] if masks is not None else []))
               for idx in cycle(len(data), steps, take, seed))
    losses = finetune(pipe, batches, lr=lr, seed=seed, params=params, optim=OptimizerOptions(weight_decay=0.0),
                      fg_weight=fg_weight)
    model.eval()
    return losses


def save_expert(model: PeftModel, folder: Path) -> Path:
    """The LoRA in peft's format: ``adapter_model.safetensors`` and ``adapter_config.json``."""
    folder = Path(folder)
    model.save_pretrained(str(folder), safe_serialization=True)
    if not (folder / "adapter_model.safetensors").exists():
        raise RuntimeError(f"peft saved no adapter_model.safetensors in {folder}")
    return folder


def fuse_into_base(pipe, model: PeftModel) -> None:  # noqa: ANN001
    """Fuse the active LoRA into the denoiser's weights and remove the LoRA layers."""
    _set_denoiser(pipe, model.merge_and_unload())


def _set_denoiser(pipe, module: torch.nn.Module) -> None:  # noqa: ANN001
    if module is not denoiser_of(pipe):
        pipe.register_modules(**{"unet" if hasattr(pipe, "unet") else "transformer": module})


def default_weights(method: str, n: int) -> list[float]:
    """1/N for ``linear`` and ``dare_linear``; 1 for ``ties`` (its disjoint mean already averages)."""
    return [1.0] * n if method == "ties" else [1.0 / n] * n


def merge_experts(pipe, experts: Sequence[Path], weights: Sequence[float] | None = None,  # noqa: ANN001
                  method: str = "linear", density: float = 0.5, seed: int = 0) -> list[float]:
    """Merge the saved experts into the pipeline's denoiser in place (see the module docstring);
    the denoiser is left without LoRA layers. Returns the weights used."""
    from peft import PeftModel

    if method not in METHODS:
        raise ValueError(f"unknown merge method {method!r}; known: {', '.join(METHODS)}")
    if not experts:
        raise ValueError("no experts to merge")
    weights = list(weights) if weights is not None else default_weights(method, len(experts))
    if len(weights) != len(experts):
        raise ValueError(f"{len(experts)} experts but {len(weights)} merge weights")
    names = [f"expert_{i}" for i in range(len(experts))]  # no "." in adapter names
    model = PeftModel.from_pretrained(denoiser_of(pipe), str(experts[0]), adapter_name=names[0])
    for name, folder in zip(names[1:], experts[1:], strict=True):
        model.load_adapter(str(folder), adapter_name=name)
    if method == "linear":
        model.add_weighted_adapter(names, weights, adapter_name="merged", combination_type="cat")
        model.set_adapter("merged")
        _set_denoiser(pipe, model.merge_and_unload(adapter_names=["merged"]))
        return weights
    _merge_full_deltas(model, names, weights, method, density, seed)
    _set_denoiser(pipe, model.unload())
    return weights


@torch.no_grad()
def _merge_full_deltas(model: PeftModel, names: list[str], weights: list[float], method: str,
                       density: float, seed: int) -> None:
    from peft.tuners.lora import LoraLayer
    from peft.utils import merge_utils

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # DARE's random drops (on CPU tensors)
        for module in model.modules():
            if not isinstance(module, LoraLayer):
                continue
            present = [(n, w) for n, w in zip(names, weights, strict=True) if n in module.lora_A]
            if not present:
                continue
            deltas = [module.get_delta_weight(n).float() for n, _ in present]
            w = torch.tensor([w for _, w in present], dtype=torch.float32, device=deltas[0].device)
            if method == "ties":
                delta = merge_utils.ties(deltas, w, density)
            else:
                delta = merge_utils.dare_linear(deltas, w, density)
            base = module.get_base_layer().weight
            base.add_(delta.to(base.dtype))
