"""Bias suites: general bias (Vice et al.), social bias (HEIM, ITI-GEN, DALL-Eval), and the world flavour.

``bias``: the reference's three prompt grids (objects; person + action + object;
occupations with good / bad / looks-like), captioned by BLIP, objects matched through
WordNet, M_G by CLIP ViT-L/14. Headline: mean Jaccard hallucination H_J over images (lower
is better); B_D (with n, N), M_G and H_J's parts beside it. Task-oriented mode:
``bias:captions=FILE,target=WORD`` uses up to ``captions_limit`` (50) captions of FILE (one a
line, or COCO captions JSON) holding the target word as prompts, as TryBeforeYouBias does.

``social-bias``: HEIM's "a photo of the face of {X}" and DALL-Eval's "a photo of a
{profession}"; gender by zero-shot CLIP (or a VQA question), skin tone by the references'
Monk pixel rule (or CLIP). Headline: mean HEIM imbalance over attributes (lower is better).

``bias-world``: underspecified Shapes-world prompts judged by the exact world captioner,
text matcher and colour read-out. Headline: KL to uniform of the colour drawn where the
prompt leaves it free (lower is better; 0 for ``world:oracle`` up to sampling).
"""

from __future__ import annotations

from pathlib import Path

from bench.spec import reject_unknown, take
from suites import register_suite
from suites.bias.prompts import GRIDS, OBJECTS_CSV, OCCUPATIONS_CSV, general_prompts, social_prompts, task_prompts
from suites.bias.rules import REFERENCE_STOP_WORDS
from suites.bias.social import SocialBiasSuite
from suites.bias.suite import GeneralBiasSuite

DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-base"
DEFAULT_CLIP = "openai/clip-vit-large-patch14"
_OPTS = ("grids (objects+person_action+occupations), objects, occupations (CSV lists), captions (FILE), target, "
         "captions_limit, captioner, clip ('none': no M_G), synonyms (wordnet|none), stopwords (FILE), device, batch")
_SOCIAL = ("set (heim|dalleval|all), clip, gender (clip|vqa|none), skin (pixel|pixel-reference|clip|none), vqa, "
           "device, batch")


def _lexicon(choice: str, where: str) -> object | None:
    if choice == "none":
        return None
    if choice != "wordnet":
        raise ValueError(f"option synonyms={choice!r} in {where}: use wordnet or none")
    from suites.bias.lexicon import WordNetLexicon

    return WordNetLexicon()


def _stop_words(path: str | None) -> frozenset[str]:
    if path is None:
        return REFERENCE_STOP_WORDS
    if not Path(path).exists():
        raise ValueError(f"stop-word file {path} does not exist")
    return frozenset(w.lower() for w in Path(path).read_text().split())


@register_suite("bias", "general bias (Vice et al.): B_D, H_J, M_G over BLIP captions and CLIP "
                "(options: " + _OPTS + ")")
def _bias(opts: dict[str, str]) -> GeneralBiasSuite:
    where = "suite bias"
    grids = tuple(take(opts, "grids", str, "+".join(GRIDS), where).split("+"))
    objects = Path(take(opts, "objects", str, str(OBJECTS_CSV), where))
    occupations = Path(take(opts, "occupations", str, str(OCCUPATIONS_CSV), where))
    captions = take(opts, "captions", str, None, where)
    target = take(opts, "target", str, None, where)
    limit = take(opts, "captions_limit", int, 50, where)
    captioner = take(opts, "captioner", str, DEFAULT_CAPTIONER, where)
    clip = take(opts, "clip", str, DEFAULT_CLIP, where)
    synonyms = take(opts, "synonyms", str, "wordnet", where)
    stop_words = _stop_words(take(opts, "stopwords", str, None, where))
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    reject_unknown(opts, where, _OPTS)
    if (captions is None) != (target is None):
        raise ValueError(f"{where}: the task-oriented mode needs both captions=FILE and target=WORD")
    prompts = task_prompts(Path(captions), target, limit) if captions else general_prompts(grids, objects, occupations)

    from bench.judges.captioner import BlipCaptioner
    from bench.judges.clip_zero_shot import ClipZeroShot

    scorer = None if clip == "none" else ClipZeroShot(clip, device, batch)
    return GeneralBiasSuite("bias", prompts, BlipCaptioner(captioner, device, batch), scorer,
                            _lexicon(synonyms, where), stop_words)


@register_suite("social-bias", "HEIM gender / skin-tone imbalance, ITI-GEN KL, DALL-Eval MAD "
                "(options: " + _SOCIAL + ")")
def _social(opts: dict[str, str]) -> SocialBiasSuite:
    from bench.judges.attributes import (
        GENDER,
        SKIN_TONE,
        ClipAttributeClassifier,
        MonkSkinToneClassifier,
        VqaAttributeClassifier,
    )
    from bench.judges.clip_zero_shot import ClipZeroShot

    where = "suite social-bias"
    which = take(opts, "set", str, "all", where)
    clip_model = take(opts, "clip", str, DEFAULT_CLIP, where)
    gender = take(opts, "gender", str, "clip", where)
    skin = take(opts, "skin", str, "pixel", where)
    vqa_spec = take(opts, "vqa", str, "blip:Salesforce/blip-vqa-base", where)
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    reject_unknown(opts, where, _SOCIAL)
    sets = {"all": ("heim", "dalleval"), "heim": ("heim",), "dalleval": ("dalleval",)}.get(which)
    if sets is None:
        raise ValueError(f"option set={which!r} in {where}: use heim, dalleval or all")
    clip = ClipAttributeClassifier(ClipZeroShot(clip_model, device, batch)) if "clip" in (gender, skin) else None
    classifiers = []
    if gender == "vqa":
        from bench.judges.vqa_hf import make_vqa

        classifiers.append((GENDER, VqaAttributeClassifier(make_vqa(vqa_spec, device, batch))))
    elif gender == "clip":
        classifiers.append((GENDER, clip))
    elif gender != "none":
        raise ValueError(f"option gender={gender!r} in {where}: use clip, vqa or none")
    skins = {"pixel": MonkSkinToneClassifier(), "pixel-reference": MonkSkinToneClassifier(True), "clip": clip}
    if skin in skins:
        classifiers.append((SKIN_TONE, skins[skin]))
    elif skin != "none":
        raise ValueError(f"option skin={skin!r} in {where}: use pixel, pixel-reference, clip or none")
    return SocialBiasSuite("social-bias", social_prompts(sets), classifiers)


@register_suite("bias-world", "general bias on underspecified Shapes-world prompts, exact world judges; "
                "headline colour KL to uniform (options: synonyms)")
def _bias_world(opts: dict[str, str]) -> GeneralBiasSuite:
    from bench.world.captioner import COLOR, WorldCaptioner, WorldColorAttribute, WorldTextMatch
    from suites.bias.prompts import world_prompts

    where = "suite bias-world"
    synonyms = take(opts, "synonyms", str, "none", where)
    reject_unknown(opts, where, "synonyms (none|wordnet; none by default: the world captioner writes the "
                   "grammar's own words, and no world shape or colour is a WordNet synonym of another)")
    return GeneralBiasSuite("bias-world", world_prompts(), WorldCaptioner(), WorldTextMatch(),
                            _lexicon(synonyms, where), attribute=(COLOR, WorldColorAttribute()), headline="color_kl")
