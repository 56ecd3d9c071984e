"""The AutoTTS discovery loop: an LLM writes controllers, the replay scores them, rounds compound.

- `loop`: the rounds and their candidates (`start`, `resume`, `Discovery`), with hard stops;
- `proposers`: who writes the code (the Anthropic or any OpenAI-compatible API through one tool
  loop, or a coding agent's CLI: Claude Code, Codex);
- `prompts`, `feedback`: what the proposer reads;
- `candidate`: one candidate's evaluation (source rules, the sweep through tts-gym's
  boundary `tts_gym.sandbox`, knob and cost checks, verdict);
- `rules`: the static source rules and the one-knob rules;
- `scoring`: baselines, the area score, matched-token comparisons;
- `archive`, `pricing`: the run folder, the ledger, its dollars and the budget of a round;
- `final`: the one held-out evaluation and its report;
- `compare`, `report`: runs side by side, and one run as an HTML page.
"""
