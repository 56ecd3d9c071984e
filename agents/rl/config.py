"""The settings of a training run, saved as `config.json` in the run folder.

The same file tells `load_sb3_policy` how to rebuild the env a model was trained in
(`max_branches` and the macro settings), so a model folder is self-describing.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tts_gym.errors import TTSGymError
from tts_gym.store.files import from_json, read_json, write_json

ALGOS = ("maskable-ppo",)
ACTIONS = ("macro", "primitive")
VEC_ENVS = ("core", "subproc")
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class TrainConfig:
    algo: str = "maskable-ppo"
    stores: tuple[str, ...] = ("search",)
    token_penalty: float = 0.05  # the env's reward: correct - token_penalty * tokens / 1e6
    latency_penalty: float = 0.0  # ... - latency_penalty * sequential tokens / 1e6
    timesteps: int = 600_000  # macro decisions, summed over the envs
    seed: int = 0
    n_envs: int = 64
    actions: str = "macro"  # macro: TTSControlMacro-v0's four macros; primitive: TTSControl-v0's
    vec_env: str = "core"  # core: compiled, in one process; subproc: MacroEnv's in workers
    max_branches: int = 64
    widen: int = 4  # branches one WIDEN macro opens
    patience: int = 8  # rounds off the leader before PRUNE drops a branch
    folds: int = 3  # the training stores' questions in this many fixed folds
    fold: int = 0  # the fold kept for validation (the others train)
    valid_orders: int = 16  # branch orders per validation question
    eval_freq: int = 50_000  # timesteps between validation runs
    checkpoint_freq: int = 50_000  # timesteps between checkpoints
    net_arch: tuple[int, ...] = (128, 128)
    learning_rate: float = 3e-4  # at the start; annealed linearly to 0
    n_steps: int = 64  # rollout length per env
    batch_size: int = 512
    n_epochs: int = 5
    gamma: float = 1.0  # undiscounted: the return is exactly the stated reward
    gae_lambda: float = 0.95
    ent_coef: float = 0.005
    stop_prior: float = 3.0  # subtracted from the initial logits of ANSWER and SUBMIT_FINISHED
    clip_range: float = 0.2

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise TTSGymError(f"unknown algorithm '{self.algo}'; use one of {', '.join(ALGOS)}.")
        if self.vec_env not in VEC_ENVS:
            raise TTSGymError(
                f"unknown vec env '{self.vec_env}'; use one of {', '.join(VEC_ENVS)}."
            )
        if self.actions not in ACTIONS:
            raise TTSGymError(f"unknown actions '{self.actions}'; use one of {', '.join(ACTIONS)}.")
        if self.actions == "primitive" and self.vec_env != "core":
            raise TTSGymError("primitive actions train on the compiled envs (--vec-env core).")
        for name in (
            "timesteps", "n_envs", "max_branches", "widen", "patience", "n_steps", "batch_size",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise TTSGymError(f"{name.replace('_', '-')} must be at least 1.")
        if self.token_penalty < 0 or self.latency_penalty < 0:
            raise TTSGymError(
                f"the penalties must be non-negative, got {self.token_penalty}, "
                f"{self.latency_penalty}."
            )
        object.__setattr__(self, "stores", tuple(self.stores))
        object.__setattr__(self, "net_arch", tuple(self.net_arch))

    def save(self, folder: Path) -> None:
        write_json(folder / CONFIG_FILE, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> TrainConfig:
        path = folder / CONFIG_FILE
        if not path.is_file():
            raise TTSGymError(f"{folder} holds no {CONFIG_FILE}; it is no training run.")
        return from_json(cls, read_json(path, "run config"), str(path))

    def run_name(self) -> str:
        """A folder name that tells runs apart by what is usually varied."""
        return f"{self.algo}-g{self.token_penalty:g}-m{self.max_branches}-s{self.seed}"

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig(**{**asdict(self), **changes})

    def command(self, out: str | Path) -> str:
        """The `tts-gym train` command line that reproduces this run."""
        actions = [] if self.actions == "macro" else ["--actions", self.actions]
        return shlex.join(
            [
                "tts-gym", "train", "--algo", self.algo, "--stores", *self.stores,
                "--token-penalty", f"{self.token_penalty:g}",
                "--latency-penalty", f"{self.latency_penalty:g}",
                "--timesteps", str(self.timesteps), "--seed", str(self.seed),
                "--n-envs", str(self.n_envs), "--max-branches", str(self.max_branches),
                "--patience", str(self.patience), "--folds", str(self.folds),
                "--fold", str(self.fold), "--vec-env", self.vec_env, *actions, "--out", str(out),
            ]
        )  # fmt: skip
