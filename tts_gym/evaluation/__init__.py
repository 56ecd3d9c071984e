"""Layer 5: evaluation. Protocols, scoring, statistics, tables, plots and traces.

Importing this package is cheap: matplotlib is imported only when a plot is drawn.
"""

from tts_gym.evaluation.evaluate import (
    Cell,
    Setting,
    compare,
    evaluate,
    evaluate_settings,
    resolve_stores,
    sweep_settings,
)
from tts_gym.evaluation.protocols import Protocol, autotts_orders, get_protocol, numpy_orders
from tts_gym.evaluation.score import score
from tts_gym.evaluation.stats import PairedComparison, bootstrap_ci, pareto_front
from tts_gym.evaluation.traces import write_traces

__all__ = [
    "Cell",
    "PairedComparison",
    "Protocol",
    "Setting",
    "autotts_orders",
    "bootstrap_ci",
    "compare",
    "evaluate",
    "evaluate_settings",
    "get_protocol",
    "numpy_orders",
    "pareto_front",
    "resolve_stores",
    "score",
    "sweep_settings",
    "write_traces",
]
