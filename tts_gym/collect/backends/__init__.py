"""Generation backends: the only code of collection that calls a model."""

from tts_gym.collect.backends.base import BACKENDS, Backend, Sample, SamplingConfig, load_backend

__all__ = ["BACKENDS", "Backend", "Sample", "SamplingConfig", "load_backend"]
