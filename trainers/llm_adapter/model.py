"""The LLM adapter and the text encoder it makes: LLM → adapter → a denoiser's cross-attention.

:class:`LLMAdapter` maps an LLM's last hidden states to the sequence (and pooled vector) a
CLIP text encoder would give, so an unchanged denoiser can read them:

* ``kind="transformer"`` (the paper's adapter): Linear–GELU–Linear into ``width``, a small
  transformer whose encoder reads the LLM tokens and whose decoder turns ``num_queries``
  learned query tokens into the CLIP-shaped output sequence; the mean of the output tokens
  through a small MLP gives the pooled vector. ``source_positions`` adds sinusoidal positions
  (diffusers' 1-D sin-cos code) to the LLM tokens: a transformer without them reads its source
  as a bag of tokens, and an LLM with rotary positions leaves no absolute position in its
  hidden states.
* ``kind="geglu"`` (LaVi-Bridge's lighter variant): LayerNorm–GEGLU feed-forward–LayerNorm–
  GEGLU feed-forward on every LLM token; the output keeps the LLM's length (no alignment
  stage: it is trained end to end).

:class:`AdaptedTextEncoder` wraps a frozen transformers LLM and the adapter behind the
interface diffusers pipelines call (``text_encoder(ids, attention_mask=...)[0]``), so a
pipeline with it as ``text_encoder`` and the LLM's tokenizer as ``tokenizer`` saves and loads
with ``DiffusionPipeline.from_pretrained`` like any other.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import ModelMixin  # noqa: F401  (diffusers looks up ModelMixin here to pick the loader)
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import get_1d_sincos_pos_embed_from_grid
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

ADAPTER_KINDS = ("transformer", "geglu")


class GEGLU(nn.Module):
    """Feed-forward with a GELU-gated linear unit: (x W1 ⊙ gelu(x W2)) W3."""

    def __init__(self, dim_in: int, dim_out: int, mult: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, 2 * mult * dim_in)
        self.out = nn.Linear(mult * dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return self.out(h * nn.functional.gelu(gate))


class LLMAdapter(ModelMixin, ConfigMixin):
    """LLM hidden states (B, L, llm_dim) → (sequence (B, Q, out_dim), pooled (B, pooled_dim))."""

    @register_to_config
    def __init__(self, llm_dim: int, out_dim: int, pooled_dim: int, num_queries: int = 77, width: int = 256,
                 encoder_layers: int = 2, decoder_layers: int = 2, heads: int = 4, kind: str = "transformer",
                 source_positions: bool = False) -> None:
        super().__init__()
        if kind not in ADAPTER_KINDS:
            raise ValueError(f"adapter kind {kind!r}: expected one of {', '.join(ADAPTER_KINDS)}")
        if kind == "transformer" and source_positions and width % 2:
            raise ValueError(f"source_positions need an even adapter width (sin and cos halves), got width={width}")
        if kind == "transformer":
            self.proj_in = nn.Sequential(nn.Linear(llm_dim, width), nn.GELU(), nn.Linear(width, width))
            layer = dict(d_model=width, nhead=heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True,
                         norm_first=True)
            encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), encoder_layers,
                                            norm=nn.LayerNorm(width), enable_nested_tensor=False)
            self.transformer = nn.Transformer(
                d_model=width, nhead=heads, num_decoder_layers=decoder_layers, dim_feedforward=4 * width,
                dropout=0.0, batch_first=True, norm_first=True, custom_encoder=encoder)
            self.queries = nn.Parameter(torch.randn(num_queries, width) * 0.02)
            self.proj_out = nn.Linear(width, out_dim)
        else:
            self.ff = nn.Sequential(nn.LayerNorm(llm_dim), GEGLU(llm_dim, out_dim), nn.LayerNorm(out_dim),
                                    GEGLU(out_dim, out_dim))
        self.pool = nn.Sequential(nn.Linear(out_dim, out_dim), nn.GELU(), nn.Linear(out_dim, pooled_dim))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pad = None if mask is None else ~mask.bool()
        if self.config.kind == "transformer":
            src = self.proj_in(hidden)
            if self.config.source_positions:
                pos = torch.arange(src.shape[1], device=src.device, dtype=torch.float32)
                src = src + get_1d_sincos_pos_embed_from_grid(src.shape[2], pos).to(src)
            tgt = self.queries.unsqueeze(0).expand(hidden.shape[0], -1, -1)
            seq = self.proj_out(self.transformer(src, tgt, src_key_padding_mask=pad, memory_key_padding_mask=pad))
            pooled_in = seq.mean(dim=1)
        else:
            seq = self.ff(hidden)
            if mask is None:
                pooled_in = seq.mean(dim=1)
            else:
                m = mask.to(seq.dtype).unsqueeze(-1)
                pooled_in = (seq * m).sum(1) / m.sum(1).clamp(min=1)
        return seq, self.pool(pooled_in)


def _llm_from_config(llm_config: dict[str, Any]) -> nn.Module:
    """The LLM's backbone (no LM head) from its transformers config dict; T5 gives its encoder."""
    from transformers import AutoConfig, AutoModel, T5EncoderModel

    cfg = dict(llm_config)
    cfg = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    if cfg.model_type in ("t5", "mt5", "umt5"):
        model = T5EncoderModel(cfg)
        # untie the encoder's embedding from ``shared``: safetensors refuses shared tensors
        model.encoder.embed_tokens = nn.Embedding.from_pretrained(model.shared.weight.detach().clone(), freeze=False)
        return model
    return AutoModel.from_config(cfg)


def load_llm(ref: str) -> nn.Module:
    """A transformers LLM backbone from a hub id or a path (T5: the encoder only)."""
    from transformers import AutoConfig, AutoModel, T5EncoderModel

    cfg = AutoConfig.from_pretrained(ref)
    if cfg.model_type in ("t5", "mt5", "umt5"):
        return T5EncoderModel.from_pretrained(ref)
    return AutoModel.from_pretrained(ref)


class AdaptedTextEncoder(ModelMixin, ConfigMixin):
    """A frozen LLM and an :class:`LLMAdapter`, called like a CLIP text encoder by pipelines.

    The LLM's weights are saved with the adapter's, so the pipeline folder is self-contained.
    ``use_attention_mask`` tells Stable Diffusion pipelines to pass the tokenizer's mask.
    """

    _no_split_modules: list[str] = []

    @register_to_config
    def __init__(self, llm_config: dict[str, Any], adapter_config: dict[str, Any], use_attention_mask: bool = True):
        super().__init__()
        self.llm = _llm_from_config(llm_config)
        self.adapter = LLMAdapter(**{k: v for k, v in adapter_config.items() if not k.startswith("_")})
        self.llm.requires_grad_(False)
        self.llm.eval()  # frozen: no dropout, ever (see train())

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> AdaptedTextEncoder:
        """Build for real, not on the meta device: the LLM's non-persistent buffers (rotary
        frequencies) are not in the weights file and would stay uninitialised. A ``device_map``
        may name one device (as a pipeline's ``device_map`` passes ``{"": device}``); the
        encoder is loaded, then moved there whole."""
        kwargs["low_cpu_mem_usage"] = False
        device_map = kwargs.pop("device_map", None)
        if isinstance(device_map, dict) and set(device_map) == {""}:
            device_map = device_map[""]
        if device_map is not None and (not isinstance(device_map, (str, int, torch.device))
                                       or device_map in ("auto", "balanced", "balanced_low_0", "sequential")):
            raise ValueError(f"AdaptedTextEncoder loads onto one device: device_map must name it (e.g. 'cuda'), "
                             f"not {device_map!r}")
        enc = super().from_pretrained(*args, **kwargs)
        return enc if device_map is None else enc.to(device_map)

    @classmethod
    def around(cls, llm: nn.Module, adapter: LLMAdapter) -> AdaptedTextEncoder:
        """Wrap a loaded LLM (its weights kept) and an adapter."""
        enc = cls(llm.config.to_dict(), dict(adapter.config))
        enc.llm.load_state_dict(llm.state_dict())
        enc.adapter.load_state_dict(adapter.state_dict())
        return enc.eval()

    def train(self, mode: bool = True) -> AdaptedTextEncoder:
        """Train mode reaches the adapter only: the frozen LLM keeps its dropout off."""
        super().train(mode)
        self.llm.eval()
        return self

    def llm_hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The LLM's last hidden states, zero at padding (a padded position may hold NaN)."""
        with torch.no_grad():
            hidden = self.llm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return hidden if attention_mask is None else hidden.masked_fill(~attention_mask.bool()[..., None], 0.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool = True, **_: Any) -> Any:
        if attention_mask is not None:
            # a tokenizer that adds no special tokens gives "" (the unconditional prompt) an empty
            # mask; let such a row see its first position, else attention over nothing is NaN
            attention_mask = attention_mask.bool().clone()
            attention_mask[~attention_mask.any(dim=1), 0] = True
        hidden = self.llm_hidden(input_ids, attention_mask)
        seq, pooled = self.adapter(hidden.to(self.adapter.dtype), attention_mask)
        hidden_states = (seq, seq) if output_hidden_states else None
        out = BaseModelOutputWithPooling(last_hidden_state=seq, pooler_output=pooled, hidden_states=hidden_states)
        return out if return_dict else out.to_tuple()


def with_text_encoder(pipe: Any, text_encoder: nn.Module, tokenizer: Any) -> Any:
    """The same pipeline with another text encoder and tokenizer (``from_pretrained`` refuses a
    text encoder of another class than the saved one; the constructor does not)."""
    import inspect

    kw = dict(pipe.components, text_encoder=text_encoder, tokenizer=tokenizer)
    if "requires_safety_checker" in inspect.signature(type(pipe).__init__).parameters:
        kw["requires_safety_checker"] = bool(pipe.config.get("requires_safety_checker", False))
    new = type(pipe)(**kw)
    new.set_progress_bar_config(disable=True)
    return new


def check_attached(pipe: Any, prompt: str = "a photo of a red circle") -> None:
    """Raise unless ``pipe``'s prompts really go through an :class:`AdaptedTextEncoder`'s adapter.

    Two checks, because a silently missing adapter looks like a working model: the pipeline's
    text encoder is the adapted one, and the prompt features the pipeline hands its denoiser
    change when the adapter's weights change.
    """
    enc = getattr(pipe, "text_encoder", None)
    if not isinstance(enc, AdaptedTextEncoder):
        raise ValueError(f"LLM adapter not attached: the pipeline's text encoder is {type(enc).__name__}, "
                         "not AdaptedTextEncoder")
    with torch.no_grad():
        before = pipe.encode_prompt(prompt, enc.device, 1, False)[0].clone()
        saved = {k: v.clone() for k, v in enc.adapter.state_dict().items()}
        for p in enc.adapter.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        after = pipe.encode_prompt(prompt, enc.device, 1, False)[0]
        enc.adapter.load_state_dict(saved)
    if torch.equal(before, after):
        raise ValueError("LLM adapter not attached: the pipeline's prompt features do not depend on the adapter")
