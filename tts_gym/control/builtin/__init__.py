"""The published reference controllers, exactly as their published code plays them."""

from tts_gym.control.builtin.cmc import CMCSchedule, ConfidenceMomentum, cmc_schedule
from tts_gym.control.builtin.consistency import (
    AdaptiveConsistency,
    EarlyStoppingConsistency,
    SelfConsistency,
)
from tts_gym.control.builtin.parallel_probe import ParallelProbe
from tts_gym.control.builtin.sac import SelfConsistencySAC

__all__ = [
    "AdaptiveConsistency",
    "CMCSchedule",
    "ConfidenceMomentum",
    "EarlyStoppingConsistency",
    "ParallelProbe",
    "SelfConsistency",
    "SelfConsistencySAC",
    "cmc_schedule",
]
