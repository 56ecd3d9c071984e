"""RL controllers as baselines: MaskablePPO on `TTSControl-v0`, trained with `tts-gym train`.

- the macro actions the policies act in live in the env layer (`tts_gym.env.macro`,
  `TTSControlMacro-v0`);
- `tts_gym_agents.rl.train`: training runs (checkpoints, resume, validation split, sweeps);
- `tts_gym_agents.rl.policy`: `load_sb3_policy(DIR/model.zip)`, a saved model as a controller;
- `tts_gym_agents.rl.evaluate`: batched play of many episodes at once.
"""
