"""Glob-style matching (spec: Appendices, "Glob-style matching").

``*`` matches zero or more characters and ``?`` exactly one; every other character matches
itself. Push rules match case-insensitively, either the whole value or (for ``content.body``) any
substring that starts and ends at a word boundary (spec: Client-Server API, "Push Rules",
``event_match``): the start or end of the value, or a character not in ``[A-Za-z0-9_]``.
"""

import re
from functools import lru_cache

# Not \w: Python's \w would also count non-ASCII letters as word characters. Case-sensitive even
# under IGNORECASE, which would otherwise let the Kelvin sign match "k".
_WORD_CHAR = "(?-i:[A-Za-z0-9_])"


def glob_to_regex_source(pattern: str) -> str:
    """The regular expression text equivalent to the glob ``pattern`` (no anchors)."""
    parts: list[str] = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


@lru_cache(maxsize=1024)
def compile_glob(
    pattern: str, *, word_boundary: bool = False, ignore_case: bool = True
) -> re.Pattern[str]:
    """A compiled matcher for ``pattern``; use ``.fullmatch`` unless ``word_boundary``.

    With ``word_boundary`` the regex finds a substring bounded by word boundaries: use
    ``.search``.
    """
    source = glob_to_regex_source(pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    if word_boundary:
        source = f"(?<!{_WORD_CHAR})(?:{source})(?!{_WORD_CHAR})"
    return re.compile(source, flags)


def glob_matches(pattern: str, value: str, *, ignore_case: bool = True) -> bool:
    """Whether the glob ``pattern`` matches the whole of ``value``."""
    return compile_glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def glob_matches_words(pattern: str, value: str) -> bool:
    """Whether ``pattern`` matches, case-insensitively, a substring of ``value`` at word bounds."""
    return compile_glob(pattern, word_boundary=True).search(value) is not None
