"""Layer 8: build replay stores from a model (vLLM on GPUs, on one machine or a Ray cluster;
transformers on a CPU).

`collect(questions, out, CollectConfig(model=...))` samples n traces per question, probes the
answer every `interval` tokens, and writes an AutoTTS store with per-segment confidence;
`cluster=ClusterConfig(...)` spreads the questions over Ray workers. See docs/collect.md.
"""

from tts_gym.collect.cluster import ClusterConfig
from tts_gym.collect.collector import CollectConfig, CollectResult, collect
from tts_gym.collect.errors import CollectError
from tts_gym.collect.metadata import metadata_path
from tts_gym.collect.questions import QuestionItem, read_questions
from tts_gym.collect.shards import shard_folder

__all__ = [
    "ClusterConfig",
    "CollectConfig",
    "CollectError",
    "CollectResult",
    "QuestionItem",
    "collect",
    "metadata_path",
    "read_questions",
    "shard_folder",
]
