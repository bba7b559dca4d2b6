"""What batching buys a VQA judge: TIFA's question stream through BLIP, one pair at a time
against batches.

Builds a random-weight ``BlipForQuestionAnswering`` of a mid size (hidden 256, 4 vision and 4
text layers, 96 px images; the real blip-vqa-base is 768 wide at 384 px), saves it, loads it
back through ``BlipVQA``, and answers TIFA-world's questions about world images (several
questions per image, as TIFA asks) with ``batch=1`` and with ``--batch``. Prints the wall time
of each and the ratio; answers must be identical (greedy decoding, same-length batches).

    python benchmarks/vqa_batching.py [--images 48] [--batch 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.candidates.world import WorldCandidate  # noqa: E402
from bench.judges.vqa import Question  # noqa: E402
from bench.judges.vqa_hf import BlipVQA  # noqa: E402
from suites.tifa import world_prompts  # noqa: E402


def build_blip(path: Path) -> Path:
    """A BLIP VQA of 4 layers of width 256 at 96 px with a vocabulary of TIFA-world's words."""
    from transformers import BertTokenizerFast

    from tests.tiny_models import save_blip_vqa, tiny_bert_vocab

    words = sorted({w.strip("?") for p in world_prompts() for r in p.meta["questions"]
                    for w in (r["question"] + " " + " ".join(r["choices"])).split()})
    tok = BertTokenizerFast(vocab=tiny_bert_vocab(words), bos_token="[DEC]", model_max_length=40)
    return save_blip_vqa(
        path, tok, 96,
        text=dict(hidden_size=256, encoder_hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                  num_attention_heads=4, max_position_embeddings=64),
        vision=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                    patch_size=16, initializer_range=0.02),
        config=dict(image_text_hidden_size=256))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    prompts = world_prompts()[:: max(1, len(world_prompts()) // args.images)][: args.images]
    images = WorldCandidate("world:oracle").generate([(p, 0) for p in prompts])
    questions = [[Question(r["question"], tuple(r["choices"])) for r in p.meta["questions"]] for p in prompts]
    n = sum(map(len, questions))
    with tempfile.TemporaryDirectory() as tmp:
        path = build_blip(Path(tmp) / "blip")
        times, answers = {}, {}
        for batch in (1, args.batch):
            vqa = BlipVQA(str(path), device="cpu", batch=batch)
            vqa.answer(images[:2], questions[:2])  # load and warm up
            t0 = time.perf_counter()
            answers[batch] = vqa.answer(images, questions)
            times[batch] = time.perf_counter() - t0
    same = answers[1] == answers[args.batch]
    print(f"{len(images)} images, {n} questions, {args.threads} thread(s)")
    for batch, t in times.items():
        print(f"  batch={batch:<3d} {t:7.2f} s  ({1000 * t / n:6.1f} ms per question)")
    print(f"speed-up batch={args.batch} / batch=1: {times[1] / times[args.batch]:.2f}x; identical answers: {same}")


if __name__ == "__main__":
    main()
