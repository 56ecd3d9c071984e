"""Layer 9: controllers live, in front of a generating model instead of a replay store.

`LiveEpisode` is the engine's `Episode` over branches an engine generates while it is played,
so every controller that drives an episode (`run`) or a question handle (`solve`) runs
unchanged; engines are a collect backend in this process (vLLM, transformers), an
OpenAI-compatible completions server, or a replay store served as if generated (which proves
that the live semantics equal the replay semantics). See docs/live.md.
"""

from tts_gym.live.branches import LiveBranch, LiveQuestion
from tts_gym.live.engines import GenerationEngine, LiveEngine, ReplayEngine, Sampling, TokenModel
from tts_gym.live.episode import LiveEpisode, Need, NeedData
from tts_gym.live.errors import LiveError
from tts_gym.live.runner import LiveResult, Played, QuestionSpec, play_question, run_live
from tts_gym.live.sources import EngineConfig, open_engine

__all__ = [
    "EngineConfig",
    "GenerationEngine",
    "LiveBranch",
    "LiveEngine",
    "LiveEpisode",
    "LiveError",
    "LiveQuestion",
    "LiveResult",
    "Need",
    "NeedData",
    "Played",
    "QuestionSpec",
    "ReplayEngine",
    "Sampling",
    "TokenModel",
    "open_engine",
    "play_question",
    "run_live",
]
