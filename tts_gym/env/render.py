"""A picture of an episode, as Parallel-Probe draws its width x depth matrix (numpy only).

One row per slot (a row stays empty until its branch opens), one cell per interval of the
branch: its probes, then its final segment. A cell is drawn once the episode has explored it,
coloured by the answer revealed there (`PALETTE`, by the order in which the episode first
revealed each answer; grey when that interval revealed nothing, as with
`reveal_on_continue=False` or the inside of a READ). Consecutive waves (env steps) alternate
between full and darker shades, so the cells one batch action explored share a shade. The
left strip marks the rows that vote for the current majority answer, a line strikes pruned
rows through, and once the episode has ended the right strip marks in green the rows whose
answer is the gold one. The caption gives tokens, sequential tokens, opened slots and steps,
and at the end the answer and whether it is correct.

`EpisodePicture` records what each step showed (`record`) and draws the frame (`draw`); the
env calls both only when its `render_mode` is `"rgb_array"` or `"human"`. `Window` puts frames
in a matplotlib window (imported then, never at import time).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import gymnasium
import numpy as np

BACKGROUND = (24, 24, 28)
UNREVEALED = (110, 110, 118)
MAJORITY = (255, 255, 255)
GOLD = (60, 200, 90)
STRIKE = (10, 10, 10)
TEXT = (230, 230, 230)
PALETTE = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (174, 199, 232),
        (255, 187, 120), (152, 223, 138),
    ],
    dtype=np.uint8,
)  # fmt: skip
"""Answer colours, by first reveal within the episode (the 13th answer takes the first)."""
SHADE = 0.7
"""Brightness of the cells of odd waves (even waves: full)."""
MARGIN = 6  # pixels of the majority strip (left) and the gold strip (right)
SCALE = 2  # pixels per font pixel
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001010010", "8": "111101111101111",
    "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011",
    "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101",
    "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    " ": "000000000000000", ".": "000000000000010", ",": "000000000010100",
    ":": "000010000010000", "/": "001001010100100", "-": "000000111000000",
    "?": "111001010000010", "=": "000111000111000", "(": "010100100100010",
    ")": "010001001001010", "%": "101001010100101", "+": "000010111010000",
    "_": "000000000000111",
}  # fmt: skip
_FONT = {
    char: np.array([int(bit) for bit in bits], dtype=bool).reshape(5, 3)
    for char, bits in _GLYPHS.items()
}
LINE_HEIGHT = 7 * SCALE


def text_width(text: str) -> int:
    return 4 * SCALE * len(text)


def draw_text(image: np.ndarray, text: str, top: int, left: int) -> None:
    """Write `text` (upper-cased; unknown characters as '?') with a 3 x 5 pixel font."""
    for k, char in enumerate(text.upper()):
        glyph = _FONT.get(char, _FONT["?"]).repeat(SCALE, axis=0).repeat(SCALE, axis=1)
        x = left + k * 4 * SCALE
        if x + glyph.shape[1] > image.shape[1]:
            return
        image[top : top + glyph.shape[0], x : x + glyph.shape[1]][glyph] = TEXT


class EpisodePicture:
    """What an episode showed, cell by cell, and its frame (see the module docstring).

    `max_cells` is the most intervals a branch of the env's stores has (probes + final), so
    every frame of an env has one size, as a video needs.
    """

    def __init__(self, max_branches: int, max_cells: int, reveal_on_continue: bool) -> None:
        self.reveal_on_continue = reveal_on_continue
        self.cell_w = max(2, min(10, 640 // max_cells))
        self.cell_h = max(3, min(10, 480 // max_branches))
        self.explored = np.zeros(max_branches, dtype=np.int64)
        self.answer = np.full((max_branches, max_cells), -1, dtype=np.int64)  # colour id
        self.wave = np.full((max_branches, max_cells), -1, dtype=np.int64)
        grid_w = max_cells * self.cell_w + 2 * MARGIN + 4
        self.width = max(grid_w, text_width(" TOKENS 10000000  SEQ 10000000  OPEN 512/512 "))
        self.height = max_branches * self.cell_h + 4 + 2 * LINE_HEIGHT + 4
        self._colour_ids: dict[str, int] = {}
        self.steps = 0

    def start(self) -> None:
        self.explored.fill(0)
        self.answer.fill(-1)
        self.wave.fill(-1)
        self._colour_ids.clear()
        self.steps = 0

    def record(self, episode: Any, slot: int, revealed: str | None, batch_reveals: bool) -> None:
        """After a step: every slot whose explored cells grew took part in this wave. A single
        action reveals `revealed` at `slot` (a PROBE explores nothing); each slot of a batch
        action reveals its answer when `batch_reveals`."""
        depth, finished = episode.depth, episode.finished
        for s in range(episode.n_opened):
            explored = depth[s] + finished[s]
            if explored > self.explored[s]:
                self.wave[s, self.explored[s] : explored] = self.steps
                self.explored[s] = explored
                if slot < 0 and batch_reveals:
                    self._reveal(s, episode.answer_text(episode.revealed[s]))
        if slot >= 0 and revealed is not None:
            self._reveal(slot, revealed)
        self.steps += 1

    def _reveal(self, slot: int, text: str | None) -> None:
        if text is None or not self.explored[slot]:
            return
        colour = self._colour_ids.setdefault(text, len(self._colour_ids))
        self.answer[slot, self.explored[slot] - 1] = colour

    def colour(self, slot: int, cell: int) -> np.ndarray:
        """The RGB colour of an explored cell."""
        answer = self.answer[slot, cell]
        base = (
            np.array(UNREVEALED, dtype=np.float64)
            if answer < 0
            else PALETTE[answer % len(PALETTE)].astype(np.float64)
        )
        return (base * (SHADE if self.wave[slot, cell] % 2 else 1.0)).astype(np.uint8)

    def draw(self, episode: Any, done: bool, answer: str | None, gold: str) -> np.ndarray:
        """The frame, `uint8 [height, width, 3]`."""
        image = np.empty((self.height, self.width, 3), dtype=np.uint8)
        image[:] = BACKGROUND
        ch, cw = self.cell_h, self.cell_w
        left = MARGIN + 2
        majority = episode.answer_text(_majority(episode))
        for s in range(episode.n_opened):
            top = 2 + s * ch
            for cell in range(self.explored[s]):
                x = left + cell * cw
                image[top : top + ch - 1, x : x + cw - 1] = self.colour(s, cell)
            revealed = episode.answer_text(episode.revealed[s])
            if revealed is not None and revealed == majority and not episode.pruned[s]:
                image[top : top + ch - 1, 1 : MARGIN - 1] = MAJORITY
            if episode.pruned[s]:
                middle = top + (ch - 1) // 2
                image[middle : middle + max(1, ch // 5), left : left + self.explored[s] * cw] = (
                    STRIKE
                )
            if done and revealed is not None and revealed == gold:
                right = self.width - MARGIN
                image[top : top + ch - 1, right + 1 : self.width - 1] = GOLD
        caption = 2 + len(self.explored) * ch + 4
        draw_text(
            image,
            f"TOKENS {episode.tokens}  SEQ {episode.seq_tokens}  "
            f"OPEN {episode.n_opened}/{len(self.explored)}  STEP {self.steps}",
            caption,
            2,
        )
        if done:
            verdict = "CORRECT" if answer is not None and answer == gold else "WRONG"
            draw_text(image, f"ANSWER {answer}  {verdict}", caption + LINE_HEIGHT, 2)
        return image


def _majority(episode: Any) -> int:
    """The majority answer id of the revealed answers of unpruned slots (ties: the lowest
    slot's), as ANSWER would give it; -1 when none."""
    votes = episode.votes
    if not votes:
        return -1
    best = max(votes.values())
    for s, answer in enumerate(episode.revealed):
        if answer >= 0 and not episode.pruned[s] and votes.get(answer) == best:
            return answer
    return -1


def why_no_window() -> str | None:
    """Why `render_mode="human"` cannot open a window here (None: it can): matplotlib is
    missing, or Linux has no X11 or Wayland display."""
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed (pip install matplotlib)"
    linux = sys.platform.startswith("linux")
    if linux and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


class Window:
    """A matplotlib window showing frames (`render_mode="human"`). Where none can open (see
    `why_no_window`) it says so once, as a warning, and shows nothing: an env made with
    `render_mode="human"` still runs (Gymnasium's `check_env` makes one in every mode)."""

    def __init__(self, fps: int) -> None:
        self.fps = fps
        self._figure: Any = None
        self._image: Any = None
        self.unavailable = why_no_window()
        if self.unavailable:
            gymnasium.logger.warn(
                f"render_mode='human' shows no window: {self.unavailable}; "
                "render_mode='rgb_array' gives the frames."
            )

    def show(self, frame: np.ndarray) -> None:
        if self.unavailable:
            return
        import matplotlib.pyplot as plt

        if self._figure is None or not plt.fignum_exists(self._figure.number):
            self._figure, axes = plt.subplots(num="TTSControl-v0")
            axes.set_axis_off()
            self._image = axes.imshow(frame, interpolation="nearest")
            plt.show(block=False)
        else:
            self._image.set_data(frame)
        plt.pause(1 / self.fps)

    def close(self) -> None:
        if self._figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self._figure)
            self._figure = None
