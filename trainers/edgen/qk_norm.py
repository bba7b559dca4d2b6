"""Edgen's one architectural change to PixArt-α: LayerNorm on queries and keys.

Per attention head, queries and keys are normalised over the head dimension by a LayerNorm
without learned scale or shift (eps 1e-6), in self- and cross-attention alike, as the
reference's ``PixArt_blocks_ln.py`` does. :class:`QKNormAttnProcessor` is that attention as a
diffusers attention processor; :func:`attach_qk_norm` sets it on every ``Attention`` of a
model. Processors are not saved with a model, so :class:`QKNormPixArtTransformer2DModel` (a
PixArt transformer that attaches the processor when built) carries the change through
``save_pretrained`` / ``from_pretrained``: a pipeline folder records this class by module path
(``["trainers.edgen.qk_norm", "QKNormPixArtTransformer2DModel"]``), and any loader where gauntlet is
installed (the round loop's ``diffusers:`` candidate included) builds it back. Diffusers picks a
custom class's loading method by looking its base classes up in the class's module, hence the
``ModelMixin`` import below.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import ModelMixin, PixArtTransformer2DModel  # noqa: F401  (ModelMixin: see above)
from diffusers.models.attention_processor import Attention

EPS = 1e-6


class QKNormAttnProcessor:
    """Scaled dot-product attention with q/k LayerNorm (no affine, eps 1e-6) over each head's dimension."""

    def __init__(self, eps: float = EPS) -> None:
        self.eps = eps

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch, seq_len, _ = context.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, seq_len, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads
        query, key, value = (x.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for x in (query, key, value))
        query = F.layer_norm(query, (head_dim,), eps=self.eps).to(value.dtype)
        key = F.layer_norm(key, (head_dim,), eps=self.eps).to(value.dtype)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=0.0,
                                             is_causal=False)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def attach_qk_norm(model: torch.nn.Module, eps: float = EPS) -> int:
    """Set :class:`QKNormAttnProcessor` on every diffusers ``Attention`` in ``model``; the number set.

    An error when there is none: a silent no-op would train a model without the change."""
    count = 0
    for module in model.modules():
        if isinstance(module, Attention):
            module.set_processor(QKNormAttnProcessor(eps))
            count += 1
    if not count:
        raise ValueError(f"q/k LayerNorm: {type(model).__name__} has no diffusers Attention module to attach to")
    return count


def has_qk_norm(model: torch.nn.Module) -> bool:
    """True when every attention module of ``model`` runs :class:`QKNormAttnProcessor`."""
    procs = [m.processor for m in model.modules() if isinstance(m, Attention)]
    return bool(procs) and all(isinstance(p, QKNormAttnProcessor) for p in procs)


class QKNormPixArtTransformer2DModel(PixArtTransformer2DModel):
    """``PixArtTransformer2DModel`` that always runs Edgen's q/k LayerNorm (same config and weights)."""

    @functools.wraps(PixArtTransformer2DModel.__init__)  # the config signature diffusers reads
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        attach_qk_norm(self)


def with_qk_norm(pipe: Any) -> Any:  # noqa: ANN401  (a PixArt-style DiffusionPipeline)
    """Swap ``pipe.transformer`` for a :class:`QKNormPixArtTransformer2DModel` with the same weights
    (no-op if it already is one); saving ``pipe`` then records the change."""
    transformer = getattr(pipe, "transformer", None)
    if not isinstance(transformer, PixArtTransformer2DModel):
        raise ValueError(f"qk_norm needs a PixArt transformer; {type(pipe).__name__} has "
                         f"{type(transformer).__name__ if transformer is not None else 'none'}")
    if isinstance(transformer, QKNormPixArtTransformer2DModel):
        return pipe
    new = QKNormPixArtTransformer2DModel.from_config(transformer.config)
    new.load_state_dict(transformer.state_dict(), strict=True)
    new.to(transformer.device)
    if new.dtype != transformer.dtype:
        new.to(transformer.dtype)
    pipe.register_modules(transformer=new)
    return pipe
