"""Fixed-shape observations of an episode, updated incrementally after every action.

Per-slot features are rows of `slots`; the columns are named by `SLOT_FEATURES`, the global
features by `GLOBAL_FEATURES`. Answers appear only as per-episode ids, never as strings, so
nothing in the observation hints at which answer is correct: `answer_id[slot]` is the rank of
the slot's last revealed answer among the distinct answers the slots show, in order of first
reveal (0, 1, 2, ...; -1 for none). Two slots show the same answer exactly when their ids are
equal, and the ids stay below `max_branches` however many answers an episode has seen, so the
observation space is the same for every store. The leader is the answer with the most votes
(revealed answers of unpruned slots); ties go to the answer revealed first.
"""

from __future__ import annotations

import numpy as np

from tts_gym.engine import NO_ANSWER, Episode, beta_confidence

SLOT_FEATURES = (
    "opened",
    "alive",  # opened, neither finished nor pruned
    "finished",
    "pruned",
    "revealed",  # has a revealed answer
    "depth",  # intervals explored / DEPTH_SCALE
    "tokens",  # tokens charged to the branch / BRANCH_TOKEN_SCALE
    "leader_rank",  # 1 / (1 + rank of its answer by votes); 0 without an answer
    "agrees",  # its answer is the current leader
    "vote_share",  # share of the votes held by its answer
    "stable",  # consecutive reveals that kept the same answer / STABLE_SCALE (capped at 1)
    "err",  # its answer is 'ERR'
    "confidence",  # store's confidence of its last revealed segment, clipped to [0, FEATURE_CAP]
)
GLOBAL_FEATURES = (
    "opened",  # branches opened / max_branches
    "tokens",  # tokens used / EPISODE_TOKEN_SCALE
    "leader_share",
    "runner_up_share",
    "revealed_confidence",  # Beta-majority confidence of the revealed (unpruned) answers
    "finished_confidence",  # Beta-majority confidence of the finished branches' answers
    "distinct_answers",  # distinct revealed answers / max_branches
    "unopened",  # share of the question's branches not yet opened
    "finished",  # finished branches / max_branches
    "budget_used",  # tokens / budget (0 without a budget)
)
DEPTH_SCALE = 100.0
BRANCH_TOKEN_SCALE = 50_000.0
EPISODE_TOKEN_SCALE = 1_000_000.0
STABLE_SCALE = 20.0
FEATURE_CAP = 10.0  # scaled features are clipped here; real stores stay well below 1

_S = {name: i for i, name in enumerate(SLOT_FEATURES)}
_VOTE_COLUMNS = slice(_S["leader_rank"], _S["vote_share"] + 1)
assert SLOT_FEATURES[_VOTE_COLUMNS] == ("leader_rank", "agrees", "vote_share")


class ObservationBuilder:
    """Owns the observation arrays of one env and refreshes only what an action changed."""

    def __init__(self, max_branches: int, budget: int | None) -> None:
        self.max_branches = max_branches
        self.budget = budget
        self.slots = np.zeros((max_branches, len(SLOT_FEATURES)), dtype=np.float32)
        self.globals = np.zeros(len(GLOBAL_FEATURES), dtype=np.float32)
        self.answer_id = np.full(max_branches, -1.0, dtype=np.float32)
        self._episode: Episode | None = None

    def reset(self, episode: Episode) -> None:
        self._episode = episode
        question = episode.question
        self._err = question.answers.index("ERR") if "ERR" in question.answers else NO_ANSWER
        self._confidence = question.confidence
        # question answer id -> episode answer id, assigned in order of first reveal
        self._episode_ids = [-1] * len(question.answers)
        self._answer_features = np.zeros((len(question.answers) + 1, 3), dtype=np.float32)
        self._voting_ids = np.full(self.max_branches, -1, dtype=np.int64)  # -1: no vote
        self._shown_ids = np.full(self.max_branches, -1, dtype=np.int64)  # -1: none revealed
        self._ids_changed = False
        self._n_episode_ids = 0
        self._stable = [0] * self.max_branches
        self._finished_votes: dict[int, int] = {}
        self._n_finished = 0
        self.slots.fill(0.0)
        self.globals.fill(0.0)
        self.answer_id.fill(-1.0)

    def update(self, slot: int, revealed: bool) -> None:
        """Refresh after an action on `slot` (-1 for none); `revealed`: it revealed an answer."""
        episode = self._episode
        if slot >= 0:
            self._update_slot(episode, slot, revealed)
        self._rank()
        self._update_votes(episode)

    def update_wave(self, touched: list[tuple[int, bool]]) -> None:
        """Refresh after a batch action: (slot, revealed) of every slot it touched, in slot
        order (answers first revealed together get episode ids in slot order)."""
        episode = self._episode
        for slot, revealed in touched:
            self._update_slot(episode, slot, revealed)
        self._rank()
        self._update_votes(episode)

    def observation(self) -> dict[str, np.ndarray]:
        return {
            "slots": self.slots.copy(),
            "globals": self.globals.copy(),
            "answer_id": self.answer_id.copy(),
        }

    # ---- internals -----------------------------------------------------------------------
    def _update_slot(self, episode: Episode, slot: int, revealed: bool) -> None:
        row = self.slots[slot]
        finished, pruned = episode.finished[slot], episode.pruned[slot]
        row[_S["opened"]] = 1.0
        row[_S["alive"]] = not (finished or pruned)
        if finished and not row[_S["finished"]]:
            answer = episode.current[slot]
            self._finished_votes[answer] = self._finished_votes.get(answer, 0) + 1
            self._n_finished += 1
        row[_S["finished"]] = finished
        row[_S["pruned"]] = pruned
        depth = episode.depth[slot]
        row[_S["depth"]] = min(FEATURE_CAP, depth / DEPTH_SCALE)
        row[_S["tokens"]] = min(FEATURE_CAP, episode.charged[slot] / BRANCH_TOKEN_SCALE)
        if pruned:
            self._voting_ids[slot] = -1
        if not revealed:
            return
        answer = episode.revealed[slot]
        episode_id = self._episode_ids[answer]
        if episode_id < 0:
            episode_id = self._episode_ids[answer] = self._n_episode_ids
            self._n_episode_ids += 1
        if self._shown_ids[slot] == episode_id:
            self._stable[slot] += 1
        else:
            self._stable[slot] = 0
            self._shown_ids[slot] = episode_id
            self._ids_changed = True
        row[_S["revealed"]] = 1.0
        row[_S["stable"]] = min(1.0, self._stable[slot] / STABLE_SCALE)
        row[_S["err"]] = answer == self._err
        if self._confidence is not None and depth > 0:
            segments = self._confidence[episode.branch[slot]]
            value = segments[min(depth, len(segments)) - 1]
            row[_S["confidence"]] = min(FEATURE_CAP, max(0.0, value))
        self._voting_ids[slot] = -1 if pruned else episode_id

    def _rank(self) -> None:
        """`answer_id`: each slot's episode id as its rank among the ids the slots show."""
        if not self._ids_changed:
            return
        shown = self._shown_ids
        present = np.unique(shown[shown >= 0])
        opened = shown >= 0
        self.answer_id[opened] = np.searchsorted(present, shown[opened])
        self._ids_changed = False

    def _update_votes(self, episode: Episode) -> None:
        """Vote features: computed per distinct answer (few), then gathered for every slot."""
        n_open = episode.n_opened
        votes = episode.votes
        episode_ids = self._episode_ids
        ranked = sorted(((-count, episode_ids[a]) for a, count in votes.items()))
        total = sum(votes.values())
        top1 = -ranked[0][0] if ranked else 0
        top2 = -ranked[1][0] if len(ranked) > 1 else 0
        if n_open:
            # columns leader_rank, agrees, vote_share per episode answer id; last row = no vote
            table = self._answer_features
            table.fill(0.0)
            leader = ranked[0][1] if ranked else -1
            rank, previous = 0, None
            for position, (negative_count, episode_id) in enumerate(ranked):
                if negative_count != previous:
                    rank, previous = position, negative_count
                table[episode_id] = (
                    1.0 / (1 + rank),
                    episode_id == leader,
                    -negative_count / total,
                )
            self.slots[:n_open, _VOTE_COLUMNS] = table[self._voting_ids[:n_open]]

        finished = sorted(self._finished_votes.values(), reverse=True) + [0, 0]
        self.globals[:] = (
            n_open / self.max_branches,
            min(FEATURE_CAP, episode.tokens / EPISODE_TOKEN_SCALE),
            top1 / total if total else 0.0,
            top2 / total if total else 0.0,
            beta_confidence(top1, top2),
            beta_confidence(finished[0], finished[1]),
            min(FEATURE_CAP, len(votes) / self.max_branches),
            episode.n_unopened / len(episode.order),
            self._n_finished / self.max_branches,
            min(FEATURE_CAP, episode.tokens / self.budget) if self.budget else 0.0,
        )
