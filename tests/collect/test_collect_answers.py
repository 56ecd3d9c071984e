r"""Reading answers out of traces and probes, and math-aware matching to the gold answer.

The matching cases use the answer styles of the AutoTTS stores; the pairs marked "store" are
(gold, answer) pairs found verbatim in `Qwen3-8B/hmmt25.json` or `Qwen3-8B/aime24.json`, where
exact-match scoring counts them wrong.
"""

from __future__ import annotations

import pytest

from tts_gym.collect.answers import GoldMatcher, last_boxed, probe_answer, read_braced

ERR = "ERR"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so the answer is \boxed{204}.", "204"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"first \boxed{3}, then \boxed{\sqrt{3}} at last", r"\sqrt{3}"),
        (r"\boxed{12} ... and a cut-off \boxed{\frac{1}{", "12"),  # last complete one
        (r"\boxed {  7 }", "7"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces do not close the box
        (r"\boxed{}", ERR),
        ("no box here, 42", ERR),
        ("", ERR),
    ],
)
def test_last_boxed(text: str, expected: str) -> None:
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("continuation", "expected"),
    [
        ("073}", "073"),
        (r"\frac{1}{576}}\]" + "\nDone.", r"\frac{1}{576}"),
        (r" 8\sqrt{10} } and more } text", r"8\sqrt{10}"),
        (r"\frac{1}{2", ERR),  # probe budget ran out before the box closed
        ("}", ERR),
        ("", ERR),
    ],
)
def test_probe_answer_reads_up_to_the_matching_brace(continuation: str, expected: str) -> None:
    assert probe_answer(continuation) == expected


def test_read_braced_counts_nesting_and_skips_escapes() -> None:
    assert read_braced(r"a{b}c}d", 0) == "a{b}c"
    assert read_braced(r"a\}b}", 0) == r"a\}b"
    assert read_braced("a{b}", 0) is None


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("73", "073"),  # integers with leading zeros (AIME style)
        ("073", "73"),
        ("204", "204.0"),
        ("1013", "1,013"),
        (r"\frac{1}{576}", "1/576"),
        (r"\frac{1}{576}", r"\dfrac{1}{576}"),
        (r"\frac{1}{2}", "0.5"),
        (r"8\sqrt{10}", r"\sqrt{640}"),
        (r"\sqrt{\frac{95}{24}}", r"\frac{\sqrt{570}}{12}"),
        (r"\frac{9 \sqrt{23}}{23}", r"\frac{9\sqrt{23}}{23}"),  # store
        (r"\frac{9 \sqrt{23}}{23}", r"\frac{9}{\sqrt{23}}"),  # store
        (r"1-\frac{2}{\pi}", r"1 - \frac{2}{\pi}"),  # store
        ("14+4\\sqrt{37}", "14 + 4\\sqrt{37}"),  # store
        (r"9\sqrt{15}", r"\frac{9\sqrt{15}}{1}"),  # store
        ("26", r"\sqrt{676}"),  # store
        (
            r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
            r"\frac{-1 + \sqrt{17}}{2}, \frac{-1 - \sqrt{17}}{2}",  # store
        ),
        (
            r"\frac{-1+\sqrt{17}}{2}, \frac{-1-\sqrt{17}}{2}",
            r"\frac{-1-\sqrt{17}}{2}, \frac{-1+\sqrt{17}}{2}",  # same set, other order
        ),
        (r"2^{25} \cdot 26!", r"2^{25}\cdot 26!"),
    ],
)
def test_equivalent_answers_become_the_exact_gold_string(gold: str, answer: str) -> None:
    assert GoldMatcher(gold)(answer) == gold


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("204", "205"),
        ("73", "37"),
        (r"\sqrt{6}", "6"),
        ("3", r"\frac{1}{3}"),
        (r"\frac{1}{576}", r"\frac{1}{2}"),
        (r"8\sqrt{10}", r"\sqrt{10}"),
        (r"2^{25} \cdot 26!", "26!"),
        (r"2^{25} \cdot 26!", r"2 \times 26!"),
        ("25200", "25200 - overlapping pairs"),  # prose (this answer is in a store) stays
    ],
)
def test_different_answers_are_kept_as_read(gold: str, answer: str) -> None:
    assert GoldMatcher(gold)(answer) == answer


def test_err_never_matches() -> None:
    assert GoldMatcher("0")(ERR) == ERR
    assert GoldMatcher(ERR)(ERR) == ERR


def test_unparsable_gold_falls_back_to_exact_match() -> None:
    match = GoldMatcher("the empty set")
    assert match("the empty set") == "the empty set"
    assert match("0") == "0"


def test_matcher_caches_per_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    match = GoldMatcher("73")
    assert match("073") == "73"
    monkeypatch.setattr(GoldMatcher, "_equivalent", lambda self, answer: pytest.fail("no cache"))
    assert match("073") == "73"
