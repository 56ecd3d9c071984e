"""The AutoTTS discovery loop: an LLM writes controllers, the replay scores them, rounds compound.

- `loop`: the rounds (`start`, `resume`, `Discovery`), with hard stops;
- `proposers`: who writes the code (the Messages API with tools, or Claude Code);
- `prompts`, `feedback`: what the proposer reads;
- `candidate`: one candidate's evaluation (sandboxed sweep, checks, verdict);
- `sandbox`, `sandbox_worker`, `isolation`, `rules`, `processes`: running it confined;
- `scoring`: baselines, the area score, matched-token comparisons;
- `archive`, `pricing`: the run folder, the ledger and its dollars;
- `final`: the one held-out evaluation and its report.

The sandbox worker imports only `isolation` and `rules` from here (this file stays empty).
"""
