"""RL controllers as baselines: MaskablePPO on `TTSControl-v0`, trained with `tts-gym train`.

- `tts_gym_agents.rl.macro`: the macro actions the policies act in (and run on the plain env);
- `tts_gym_agents.rl.train`: training runs (checkpoints, resume, validation split, sweeps);
- `tts_gym_agents.rl.policy`: `load_sb3_policy(DIR/model.zip)`, a saved model as a controller;
- `tts_gym_agents.rl.evaluate`: batched play of many episodes at once.
"""
