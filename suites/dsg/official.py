"""DSG-1k (j-min/DSG): ``dsg-1k-anns.csv`` -> one prompt per item with its propositions.

``dependency`` lists an item's parent proposition ids, comma-separated, ``0`` for none. Eight
items carry malformed strings (``5, right``); as the reference loader does, such an item
loses all its dependencies, and a warning names it.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

from bench.types import Prompt

DATA = Path(__file__).parent / "data"
DSG_1K = DATA / "dsg-1k-anns.csv"
FIELDS = ("item_id", "text", "proposition_id", "dependency", "question_natural_language")

# item id prefix -> DSG-1k category
CATEGORIES = {
    "tifa160": "tifa", "stanford_paragraph": "paragraph", "localized_narratives": "paragraph",
    "countbench": "count", "vrd": "relation", "diffusiondb": "real_user", "midjourney": "real_user",
    "posescript": "pose", "whoops": "defying", "drawtext": "text",
}


class MalformedDependencyWarning(UserWarning):
    """An item's dependency string is not a list of ids; its dependencies are dropped."""


def category_of(item_id: str) -> str:
    for prefix, cat in CATEGORIES.items():
        if item_id.startswith(prefix + "_"):
            return cat
    return item_id.rsplit("_", 1)[0]


def parse_dependency(text: str) -> list[int] | None:
    """``"1,2"`` -> [1, 2]; ``"0"`` -> []; anything else -> None (malformed)."""
    try:
        ids = [int(x) for x in text.split(",")]
    except ValueError:
        return None
    return [i for i in ids if i != 0]


def load_dsg(path: str | Path = DSG_1K) -> list[Prompt]:
    """Prompts in file order; ``meta["propositions"]`` rows have ``proposition_id`` (int),
    ``dependency`` (parent ids), ``question`` and DSG's category columns."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"DSG annotation file {path} does not exist")
    items: dict[str, dict] = {}
    malformed: dict[str, list[str]] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"DSG annotation file {path} lacks column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            item = items.setdefault(row["item_id"], {"text": row["text"], "propositions": []})
            try:
                pid = int(row["proposition_id"])
            except ValueError:
                raise ValueError(f"{path}: line {line} (item {row['item_id']}): proposition_id "
                                 f"{row['proposition_id']!r} is not an integer") from None
            deps = parse_dependency(row["dependency"])
            if deps is None:
                malformed.setdefault(row["item_id"], []).append(f"{pid}: {row['dependency']!r}")
                deps = []
            item["propositions"].append({
                "proposition_id": pid, "dependency": deps, "question": row["question_natural_language"],
                "category_broad": row.get("category_broad", ""), "category_detailed": row.get("category_detailed", ""),
            })
    for item_id, bad in malformed.items():
        warnings.warn(f"DSG item {item_id}: malformed dependency ({'; '.join(bad)}); all dependencies of this "
                      "item are dropped, as the reference loader does", MalformedDependencyWarning, stacklevel=2)
        for p in items[item_id]["propositions"]:
            p["dependency"] = []
    return [Prompt(item_id, it["text"], category_of(item_id), {"propositions": it["propositions"]})
            for item_id, it in items.items()]
