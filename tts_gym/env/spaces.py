"""The observation space of `TTSControl-v0`: fixed by the env's arguments, not by its data.

The spaces are static, as Gymnasium's are: `action_space.sample()` draws uniformly over every
action, legal or not; a legal draw passes the mask explicitly,
`env.action_space.sample(mask=info["action_mask"])`.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from tts_gym.env.observation import FEATURE_CAP, GLOBAL_FEATURES, SLOT_FEATURES


def observation_space(max_branches: int) -> spaces.Dict:
    """One env's observation space (`tts_gym.env.observation` defines the features): the
    same for every store, since answer ids are ranks among the answers the slots show."""
    return spaces.Dict(
        {
            "slots": spaces.Box(0.0, FEATURE_CAP, (max_branches, len(SLOT_FEATURES)), np.float32),
            "globals": spaces.Box(0.0, FEATURE_CAP, (len(GLOBAL_FEATURES),), np.float32),
            "answer_id": spaces.Box(-1.0, max_branches - 1, (max_branches,), np.float32),
        }
    )
