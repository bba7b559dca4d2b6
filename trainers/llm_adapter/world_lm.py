"""The world's small causal LM: next-token prediction on world captions in English and French,
translation pairs, and long prompts. The LLM adapter reads its last hidden states.

    python -m trainers.llm_adapter.world_lm --out bench/world/llm --steps 600

Its tokenizer is byte-level BPE in which every world word (both languages, and the long
prompts' words) is one token, so a long prompt of ~110 CLIP tokens stays within 192 tokens.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.world.grammar import write_prompt
from bench.world.languages import LANGUAGES, vocabulary
from bench.world.languages import write_prompt as write_in
from bench.world.long_prompts import DISTRACTORS, LEAD_INS, long_prompt
from trainers.world_model import build
from trainers.world_model.data import sample_spec

MAX_LENGTH = 192
ARCH = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=4, max_position_embeddings=MAX_LENGTH)


def lm_words() -> list[str]:
    """Every word the LM should see as one token (letters only: the BPE splits at punctuation)."""
    text = " ".join([*build.world_words(), *(w for lang in LANGUAGES for w in vocabulary(lang)),
                     *DISTRACTORS, *LEAD_INS])
    return list(dict.fromkeys(re.findall(r"[^\W\d_]+", text.lower())))


def build_tokenizer() -> Any:
    return build.build_tokenizer(MAX_LENGTH, lm_words())


def build_lm(tok: Any, seed: int = 0) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                        tie_word_embeddings=True, **ARCH))


def sample_text(rng: np.random.Generator) -> str:
    """A caption in English or French, a translation pair, or a long prompt."""
    spec = sample_spec(rng)
    kind = rng.random()
    if kind < 0.3:
        return write_prompt(spec)
    if kind < 0.6:
        return write_in(spec, "fr")
    if kind < 0.8:
        return f"{write_prompt(spec)} = {write_in(spec, 'fr')}"
    return long_prompt(write_in(spec, LANGUAGES[int(rng.integers(len(LANGUAGES)))]), int(rng.integers(2**31)))


def train(out: Path, steps: int, batch: int = 32, lr: float = 1e-3, seed: int = 0, threads: int = 1) -> dict:
    torch.set_num_threads(threads)
    tok = build_tokenizer()
    model = build_lm(tok, seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine to zero
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / steps))))
    t0, losses = time.time(), []
    model.train()
    for step in range(1, steps + 1):
        enc = tok([sample_text(rng) for _ in range(batch)], padding="longest", truncation=True,
                  max_length=MAX_LENGTH, return_tensors="pt")
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        loss = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == steps:
            print(f"step {step}/{steps}: loss {np.mean(losses[-100:]):.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    info = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, "threads": threads,
            "minutes": round((time.time() - t0) / 60, 2), "loss_last100": float(np.mean(losses[-100:])),
            "params": sum(p.numel() for p in model.parameters()), "vocab": len(tok)}
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    print(json.dumps(train(**vars(ap.parse_args()))))


if __name__ == "__main__":
    main()
