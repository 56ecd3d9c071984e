"""A picture of one episode (`render_mode="rgb_array"`) on a synthetic store, saved as PNG.

The episode is Parallel-Probe's shape: open eight branches in one wave, advance them in
lockstep waves, prune the branches whose answer disagrees with the majority, then answer.
docs/figures/episode.png is this script's output.

    python examples/render_episode.py [--out docs/figures/episode.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from tts_gym import ActionKind, TTSControlEnv, encode_action
from tts_gym.store.synthetic import generate_store, write_store

M = 12  # slots


def main(argv: list[str] | None = None) -> np.ndarray:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/episode.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = generate_store(4, 16, seed=8, tokens=(2_000, 9_000), solve_rate=(0.45, 0.45))
        path = write_store(store, Path(folder) / "synthetic.json")
        env = TTSControlEnv(stores=[str(path)], max_branches=M, render_mode="rgb_array")
        env.reset(options={"question": 2, "order": list(range(16))})
    env.step(encode_action(ActionKind.OPEN_MANY, 8, M))
    for round_ in range(8):
        _, _, _, _, info = env.step(encode_action(ActionKind.ADVANCE_ALL, 0, M))
        if round_ == 3:  # prune the alive branches that disagree with the majority
            episode = env.episode
            majority = max(episode.votes, key=episode.votes.get)
            for slot in range(episode.n_opened):
                prune = encode_action(ActionKind.PRUNE, slot, M)
                if info["action_mask"][prune] and episode.revealed[slot] != majority:
                    _, _, _, _, info = env.step(prune)
        if not info["action_mask"][encode_action(ActionKind.ADVANCE_ALL, 0, M)]:
            break
    env.step(encode_action(ActionKind.READ, 0, M))
    env.step(encode_action(ActionKind.ANSWER, 0, M))
    frame = env.render()
    import matplotlib.pyplot as plt  # only to write the PNG

    scaled = frame.repeat(2, axis=0).repeat(2, axis=1)
    plt.imsave(args.out, scaled)
    print(f"{args.out}: {scaled.shape[1]} x {scaled.shape[0]} pixels")
    return frame


if __name__ == "__main__":
    main()
