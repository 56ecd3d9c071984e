"""Accuracy against tokens (log scale), one panel per store: the paper's Figure 3 style.

matplotlib is imported here only, and only its object API is used (no pyplot, no global
backend switch), so neither importing tts-gym nor an interactive session pays for it.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

from tts_gym.errors import TTSGymError
from tts_gym.evaluation.evaluate import Cell
from tts_gym.evaluation.stats import pareto_front
from tts_gym.store.files import write_file


def pareto_plot(cells: Sequence[Cell], path: str | os.PathLike, title: str = "") -> Path:
    """Write a PNG: each series (a sweep, or one controller) as markers joined by a line,
    and the Pareto front of each panel as a dashed grey line."""
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
    except ImportError:
        raise TTSGymError("plots need matplotlib: pip install 'tts-gym[plot]'.") from None

    stores = list(dict.fromkeys(cell.store.name for cell in cells))
    columns = min(3, len(stores))
    rows = math.ceil(len(stores) / columns)
    figure = Figure(figsize=(5.0 * columns, 4.0 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    series = list(dict.fromkeys(cell.series for cell in cells))
    colours = {name: colormaps["tab10"](i % 10) for i, name in enumerate(series)}
    for ax, store in zip(axes.flat, stores, strict=False):
        here = [cell for cell in cells if cell.store.name == store]
        for name in series:
            points = sorted((cell.tokens_k, cell.acc) for cell in here if cell.series == name)
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, "o-", color=colours[name], label=name, markersize=5)
        front = pareto_front([c.tokens_k for c in here], [c.acc for c in here])
        ax.plot(
            [here[i].tokens_k for i in front],
            [here[i].acc for i in front],
            "--",
            color="grey",
            linewidth=1,
            zorder=0,
        )
        ax.set_xscale("log")
        ax.set_title(store, fontsize=10)
        ax.set_xlabel("tokens per question (thousands, log scale)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(stores) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(labels) / 4), 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return write_file(path, buffer.getvalue())
