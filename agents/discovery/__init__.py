"""The AutoTTS discovery loop: an LLM writes controllers, the replay scores them, rounds compound.

- `loop`: the rounds (`start`, `resume`, `Discovery`), with hard stops;
- `proposers`: who writes the code (the Messages API with tools, or Claude Code);
- `prompts`, `feedback`: what the proposer reads;
- `candidate`: one candidate's evaluation (source rules, the sweep through tts-gym's
  boundary `tts_gym.sandbox`, knob and cost checks, verdict);
- `rules`: the static source rules and the one-knob rules;
- `scoring`: baselines, the area score, matched-token comparisons;
- `archive`, `pricing`: the run folder, the ledger and its dollars;
- `final`: the one held-out evaluation and its report.
"""
