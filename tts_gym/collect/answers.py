r"""Reading answers out of text (`\boxed{...}` with brace matching) and matching them to the gold.

Replay scoring is exact string equality, so an answer that math-verify finds equivalent to the
gold answer (`0.5` for `\frac{1}{2}`, `073` for `73`) is stored as the gold string itself;
everything else is stored as read. `'ERR'` marks "no answer could be read". `AnswerReader` is
the one way a branch's answers are read, by `collect` and by a live run alike.
"""

from __future__ import annotations

import re
import threading

from tts_gym.store.replay import ERR

_BOXED = re.compile(r"\\boxed\s*\{")


def read_braced(text: str, start: int) -> str | None:
    r"""The text from `start` (just after an opening brace) to its matching `}`; None if unclosed.

    A backslash escapes the next character, so `\{` and `\}` (literal braces in LaTeX) do not
    count towards the depth.
    """
    depth = 1
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


def last_boxed(text: str) -> str:
    r"""The content of the last complete `\boxed{...}` in `text`, `'ERR'` if there is none."""
    for match in reversed(list(_BOXED.finditer(text))):
        content = read_braced(text, match.end())
        if content is not None:
            return _clean(content)
    return ERR


def probe_answer(continuation: str) -> str:
    r"""The answer of a probe whose prompt ended with `\boxed{`: the text up to the matching `}`."""
    content = read_braced(continuation, 0)
    return ERR if content is None else _clean(content)


def _clean(content: str) -> str:
    content = content.strip()
    return content if content else ERR


class AnswerReader:
    """A question's answers as (read, matched): a probe's up to the `}` that closes the
    suffix's `\\boxed{`, a whole trace's from its last `\\boxed{}`; matched onto the gold string
    when there is a gold answer and math-verify finds them equivalent."""

    def __init__(self, gold: str | None) -> None:
        self._match = GoldMatcher(gold) if gold else None

    def match(self, answer: str) -> str:
        return answer if self._match is None else self._match(answer)

    def probe(self, continuation: str) -> tuple[str, str]:
        raw = probe_answer(continuation)
        return raw, self.match(raw)

    def final(self, trace: str) -> tuple[str, str]:
        raw = last_boxed(trace)
        return raw, self.match(raw)


class GoldMatcher:
    """Maps answers equivalent to one question's gold answer onto the gold string (cached)."""

    def __init__(self, gold: str) -> None:
        self.gold = gold
        self._gold = _parse(gold)
        self._cache: dict[str, str] = {ERR: ERR, gold: gold}

    def __call__(self, answer: str) -> str:
        matched = self._cache.get(answer)
        if matched is None:
            matched = self.gold if self._equivalent(answer) else answer
            self._cache[answer] = matched
        return matched

    def _equivalent(self, answer: str) -> bool:
        if not self._gold:
            return False
        from math_verify import verify

        parsed = _parse(answer)
        return bool(parsed) and verify(self._gold, parsed, timeout_seconds=_timeout())


def _parse(answer: str) -> list:
    from math_verify import parse

    # Wrapping in \boxed{} makes math-verify read the whole string as one LaTeX expression
    # (bare, `8\sqrt{10}` would be read as `8`).
    return parse(f"\\boxed{{{answer}}}", parsing_timeout=_timeout())


def _timeout() -> int | None:
    # math-verify's timeouts use SIGALRM, which only the main thread may set.
    return 5 if threading.current_thread() is threading.main_thread() else None
