"""Layer 5: evaluation. Protocols, the runner, statistics, tables, plots and traces.

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
from tts_gym.evaluation.runner import Outcomes, run_store, score, strip_gold
from tts_gym.evaluation.stats import PairedComparison, bootstrap_ci, pareto_front
from tts_gym.evaluation.traces import write_traces

__all__ = [
    "Cell",
    "Outcomes",
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
    "run_store",
    "score",
    "strip_gold",
    "sweep_settings",
    "write_traces",
]
