"""Every macro is legal under every mask: from random states of the edge stores (3 slots, no
probes, 'ERR' everywhere, 1 to 40 branches) under budgets and width caps, each macro the mask
allows plays to its end through primitive actions the env accepts in its strict mode, and each
one it masks is refused; while an episode runs, some macro is always allowed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.support.episodes import write_edge_stores
from tts_gym.env import TTSControlEnv
from tts_gym.env.macro import Macro, MacroEnv
from tts_gym.errors import IllegalActionError

SETTINGS = [
    dict(max_branches=8),
    dict(max_branches=3, max_parallel=1),
    dict(max_branches=8, budget=6_000),
    dict(max_branches=64, budget=20_000, probe_cost=3, max_parallel=5),
]
"""The macro env needs reveal_on_continue; these cover few and many slots, budgets that run
out mid-macro and capped waves."""
EPISODES = 3  # per setting, each over the five edge stores


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, str]:
    return write_edge_stores(tmp_path_factory.mktemp("macros"))


def test_every_macro_is_legal_under_every_mask(stores) -> None:
    rng = np.random.default_rng(0)
    tried = np.zeros((len(Macro), 2), dtype=int)  # per macro: states (allowed, masked)
    for settings in SETTINGS:
        env = MacroEnv(
            TTSControlEnv(stores=list(stores.values()), illegal_actions="raise", **settings),
            widen=3,
            patience=2,  # short, so that PRUNE has work
        )
        for episode in range(EPISODES):
            env.reset(seed=episode)
            done = False
            while not done:
                legal = env.action_masks()
                assert legal.any()
                snapshot = pickle.dumps(env)
                for macro in Macro:
                    twin = pickle.loads(snapshot)
                    if legal[macro]:  # the env raises if the macro plays an illegal primitive
                        _, _, _, _, info = twin.step(macro)
                        assert info["primitive_steps"] >= 1
                    else:
                        with pytest.raises(IllegalActionError, match=f"{macro.name} is masked"):
                            twin.step(macro)
                    tried[macro, 0 if legal[macro] else 1] += 1
                choices = np.flatnonzero(legal)
                going = choices[choices >= Macro.WIDEN]  # long episodes: stop one time in five
                macro = rng.choice(going if going.size and rng.random() < 0.8 else choices)
                _, _, done, _, _ = env.step(macro)
    assert (tried[:, 0] > 0).all(), tried  # every macro was played where it is allowed
    assert (tried[1:, 1] > 0).all(), tried  # and refused where masked (ANSWER never is)
