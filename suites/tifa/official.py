"""TIFA's official files: text inputs, the question file (downloaded into a cache), the sample.

The v1.0 question file (25,829 questions, over 4 MiB) does not ship with gauntlet: it is read
from ``questions=PATH``, or downloaded once from the TIFA repository into the cache
(``$GAUNTLET_CACHE``, else ``$XDG_CACHE_HOME/gauntlet``, else ``~/.cache/gauntlet``).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from bench.types import Prompt

DATA = Path(__file__).parent / "data"
V1_TEXT_INPUTS = DATA / "tifa_v1.0_text_inputs.json"
V1_QUESTIONS_URL = "https://raw.githubusercontent.com/Yushi-Hu/tifa/main/tifa_v1.0/tifa_v1.0_question_answers.json"
SAMPLE_TEXT_INPUTS = DATA / "sample_text_inputs.json"
SAMPLE_QUESTIONS = DATA / "sample_question_answers.json"
SAMPLE_RESULT = DATA / "sample_evaluation_result.json"
QUESTION_FIELDS = ("id", "question", "choices", "answer", "element_type")


def cache_dir() -> Path:
    if os.environ.get("GAUNTLET_CACHE"):
        return Path(os.environ["GAUNTLET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gauntlet"


def fetch_v1_questions(timeout: float = 60.0) -> Path:
    """The cached v1.0 question file, downloading it first if needed (atomic write)."""
    path = cache_dir() / "tifa" / "tifa_v1.0_question_answers.json"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(V1_QUESTIONS_URL, timeout=timeout) as r:
            data = r.read()
        json.loads(data)
    except Exception as e:  # offline, blocked, truncated
        raise ValueError(f"TIFA v1.0 questions: could not download {V1_QUESTIONS_URL} ({e}); "
                         "download it yourself and pass questions=PATH") from None
    tmp = path.with_suffix(".partial")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _read_json_list(path: Path, what: str) -> list[dict]:
    try:
        rows = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"TIFA {what} file {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"TIFA {what} file {path} is not JSON: {e}") from None
    if not isinstance(rows, list):
        raise ValueError(f"TIFA {what} file {path}: expected a JSON list of rows")
    return rows


def load_questions(path: str | Path) -> dict[str, list[dict]]:
    """Question rows grouped by prompt id, in file order; a row missing a field is an error."""
    grouped: dict[str, list[dict]] = {}
    for i, row in enumerate(_read_json_list(Path(path), "question")):
        missing = [f for f in QUESTION_FIELDS if f not in row]
        if missing:
            raise ValueError(f"TIFA question file {path}: row {i} (id {row.get('id')!r}) lacks {', '.join(missing)}")
        if row["answer"] not in row["choices"]:
            raise ValueError(f"TIFA question file {path}: row {i} (id {row['id']!r}, {row['question']!r}): "
                             f"answer {row['answer']!r} is not one of its choices")
        grouped.setdefault(row["id"], []).append(row)
    return grouped


def load_prompts(text_inputs: str | Path, questions: dict[str, list[dict]]) -> list[Prompt]:
    """One prompt per text input that has questions; category = the id's source (coco, drawbench...)."""
    out = []
    for i, row in enumerate(_read_json_list(Path(text_inputs), "text input")):
        if "id" not in row or "caption" not in row:
            raise ValueError(f"TIFA text input file {text_inputs}: row {i} lacks id or caption")
        if row["id"] not in questions:
            continue
        source = row["id"].rsplit("_", 1)[0]
        out.append(Prompt(row["id"], row["caption"], source, {"questions": questions[row["id"]]}))
    if not out:
        raise ValueError(f"TIFA: no text input in {text_inputs} has questions in the question file")
    return out
