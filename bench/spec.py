"""Parsing of spec strings: ``kind:rest`` and ``key=value,key=value`` option lists."""

from __future__ import annotations


def parse_options(text: str, where: str) -> dict[str, str]:
    """``"a=1,b=x"`` -> ``{"a": "1", "b": "x"}``; ``where`` names the spec in errors."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, val = part.partition("=")
        if not sep or not key:
            raise ValueError(f"bad option {part!r} in {where}: expected key=value")
        out[key.strip()] = val.strip()
    return out


def split_options(rest: str) -> tuple[str, dict[str, str]]:
    """``"path:steps=4,batch=2"`` -> ``("path", {...})``; a path may itself hold ':'."""
    head, sep, tail = rest.rpartition(":")
    if sep and "=" in tail and "/" not in tail:
        return head, parse_options(tail, rest)
    return rest, {}


def take(options: dict[str, str], key: str, cast: type, default: object, where: str) -> object:
    """Pop ``key`` from ``options`` cast to ``cast``, naming ``where`` on a bad value."""
    if key not in options:
        return default
    raw = options.pop(key)
    try:
        return cast(raw)
    except ValueError:
        raise ValueError(f"option {key}={raw!r} in {where} is not a valid {cast.__name__}") from None


def reject_unknown(options: dict[str, str], where: str, known: str) -> None:
    if options:
        raise ValueError(f"unknown option(s) {', '.join(sorted(options))} in {where}; known: {known}")
