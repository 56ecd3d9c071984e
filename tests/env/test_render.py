"""`render_mode="rgb_array"`: the picture of an episode, checked against the episode as the raw
store JSON says it went (rows = branches opened, cell colours = answers revealed there, the
majority marked, pruned rows struck through, waves shaded, gold marked at the end)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tts_gym import ActionKind, TTSControlEnv, encode_action
from tts_gym.env import render
from tts_gym.store.synthetic import generate_store, write_store

M = 8


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    spec = dict(n_questions=3, n_branches=6, seed=21, tokens=(1_500, 6_000), solve_rate=(0.5, 0.5))
    return str(write_store(generate_store(**spec), tmp_path_factory.mktemp("render") / "s.json"))


class Expected:
    """The episode re-derived from the raw JSON: per slot its cells, each (answer or None,
    wave), and whether it is pruned; answers numbered by first reveal."""

    def __init__(self, raw: dict, order: list[int]) -> None:
        self.branches, self.order = raw["each_branch"], order
        self.cells: list[list[tuple[str | None, int]]] = []
        self.shown: list[str | None] = []
        self.pruned: list[bool] = []
        self.colour: dict[str, int] = {}
        self.wave = 0

    def _reveal(self, slot: int, answer: str) -> None:
        self.colour.setdefault(answer, len(self.colour))
        self.shown[slot] = answer
        self.cells[slot][-1] = (answer, self.cells[slot][-1][1])

    def _explore(self, slot: int) -> None:
        probes, _, final = self.branches[self.order[slot]]
        depth = len(self.cells[slot])
        self.cells[slot].append((None, self.wave))
        self._reveal(slot, probes[depth] if depth < len(probes) else final)

    def _open(self) -> int:
        self.cells.append([])
        self.shown.append(None)
        self.pruned.append(False)
        return len(self.cells) - 1

    def step(self, kind: ActionKind, slot: int = 0) -> None:
        if kind is ActionKind.BRANCH:
            self._explore(self._open())
        elif kind is ActionKind.CONTINUE:
            self._explore(slot)
        elif kind is ActionKind.READ:
            new = self._open()
            probes, _, final = self.branches[self.order[new]]
            self.cells[new] = [(None, self.wave)] * (len(probes) + 1)
            self._reveal(new, final)
        elif kind is ActionKind.OPEN_MANY:
            for new in [self._open() for _ in range(slot)]:  # one wave, revealed in slot order
                self._explore(new)
        elif kind is ActionKind.PRUNE:
            self.pruned[slot] = True
        self.wave += 1

    def majority(self) -> str | None:
        votes: dict[str, int] = {}
        for answer, pruned in zip(self.shown, self.pruned, strict=True):
            if answer is not None and not pruned:
                votes[answer] = votes.get(answer, 0) + 1
        best = max(votes.values(), default=0)
        leaders = [a for a, p in zip(self.shown, self.pruned, strict=True) if not p and a]
        return next((a for a in leaders if votes[a] == best), None)


def cell_colour(expected: Expected, answer: str | None, wave: int) -> np.ndarray:
    base = render.UNREVEALED if answer is None else render.PALETTE[expected.colour[answer] % 12]
    return (np.array(base, dtype=np.float64) * (render.SHADE if wave % 2 else 1.0)).astype(np.uint8)


def check_picture(frame: np.ndarray, picture: render.EpisodePicture, expected: Expected) -> None:
    ch, cw, left = picture.cell_h, picture.cell_w, render.MARGIN + 2
    grid = frame[2 : 2 + M * ch, left : left + picture.answer.shape[1] * cw]
    filled = [
        bool((grid[s * ch : (s + 1) * ch - 1] != render.BACKGROUND).any(axis=2).any())
        for s in range(M)
    ]
    assert filled == [s < len(expected.cells) for s in range(M)]  # rows = branches opened
    majority = expected.majority()
    for s, cells in enumerate(expected.cells):
        top = 2 + s * ch
        for c, (answer, wave) in enumerate(cells):
            corner = frame[top, left + c * cw]  # struck rows keep their colour at the corner
            assert tuple(corner) == tuple(cell_colour(expected, answer, wave)), (s, c)
        assert tuple(frame[top + ch - 2, left + len(cells) * cw]) == render.BACKGROUND
        marked = tuple(frame[top, 2]) == render.MAJORITY
        assert marked == (expected.shown[s] == majority and not expected.pruned[s]), s
        struck = tuple(frame[top + (ch - 1) // 2, left + 1]) == render.STRIKE
        assert struck == expected.pruned[s], s


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_the_picture_is_the_episode_at_every_step(store, engine):
    with open(store) as handle:
        raw = json.load(handle)[1]
    order = [5, 3, 0, 1, 4, 2]
    env = TTSControlEnv(stores=[store], max_branches=M, render_mode="rgb_array", engine=engine)
    assert env.render() is None  # nothing to draw before the first reset
    env.reset(options={"question": 1, "order": order})
    expected = Expected(raw, order)
    picture = env._picture
    first = env.render()
    check_picture(first, picture, expected)
    script = [
        (ActionKind.BRANCH, 0), (ActionKind.BRANCH, 0), (ActionKind.CONTINUE, 0),
        (ActionKind.CONTINUE, 0), (ActionKind.READ, 0), (ActionKind.PRUNE, 1),
        (ActionKind.OPEN_MANY, 2), (ActionKind.CONTINUE, 4),
    ]  # fmt: skip
    for kind, slot in script:
        _, _, _, _, info = env.step(encode_action(kind, slot, M))
        assert "illegal" not in info
        expected.step(kind, slot)
        frame = env.render()
        assert frame.shape == first.shape and frame.dtype == np.uint8
        check_picture(frame, picture, expected)
    assert len(set(expected.colour)) >= 3  # the episode showed several answers
    _, _, terminated, _, info = env.step(encode_action(ActionKind.ANSWER, 0, M))
    assert terminated
    frame = env.render()
    gold = raw["gold_answer"]
    for s, answer in enumerate(expected.shown):
        top = 2 + s * picture.cell_h
        assert (tuple(frame[top, -3]) == render.GOLD) == (answer == gold), s
    caption = frame[2 + M * picture.cell_h + 4 :]
    assert (caption == render.TEXT).all(axis=2).sum() > 100  # the caption has text


def test_frames_keep_their_size_and_the_text_renders(store):
    env = TTSControlEnv(stores=[store], max_branches=M, render_mode="rgb_array")
    shapes = set()
    for seed in range(5):
        env.reset(seed=seed)
        shapes.add(env.render().shape)
        env.step(encode_action(ActionKind.READ, 0, M))
        shapes.add(env.render().shape)
    assert len(shapes) == 1
    image = np.zeros((20, 200, 3), dtype=np.uint8)
    render.draw_text(image, "TOKENS 0123456789 é", 2, 2)
    glyphs = (image == render.TEXT).all(axis=2)
    assert glyphs[:, : render.text_width("TOKENS")].any() and glyphs.sum() > 100


def test_the_docs_picture_is_made_by_the_example(tmp_path):
    """docs/figures/episode.png comes from examples/render_episode.py (a synthetic store)."""
    pytest.importorskip("matplotlib")
    import importlib.util

    from tests.support import REPO_ROOT

    path = REPO_ROOT / "examples" / "render_episode.py"
    spec = importlib.util.spec_from_file_location("render_episode", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    frame = example.main(["--out", str(tmp_path / "episode.png")])
    assert (tmp_path / "episode.png").stat().st_size > 1000 and frame.shape[2] == 3
    assert (REPO_ROOT / "docs" / "figures" / "episode.png").is_file()
