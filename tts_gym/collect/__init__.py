"""Layer 7: build replay stores from a model (vLLM on a GPU, or transformers on a CPU).

`collect(questions, out, CollectConfig(model=...))` samples n traces per question, probes the
answer every `interval` tokens, and writes an AutoTTS store with per-segment confidence.
See docs/collect.md.
"""

from tts_gym.collect.collector import CollectConfig, CollectResult, collect, metadata_path
from tts_gym.collect.errors import CollectError
from tts_gym.collect.questions import QuestionItem, read_questions

__all__ = [
    "CollectConfig",
    "CollectError",
    "CollectResult",
    "QuestionItem",
    "collect",
    "metadata_path",
    "read_questions",
]
