"""Accuracy against both cost axes, one row of panels per store: the paper's Figure 3 style.

Each store gets two panels side by side, accuracy against total tokens and against sequential
tokens (the latency proxy, docs/design.md), both on log scales, with the same series, colours and
legend. matplotlib is imported here only, and only its object API is used (no pyplot, no
global backend switch), so neither importing tts-gym nor an interactive session pays for it.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tts_gym.errors import TTSGymError, printable
from tts_gym.evaluation.evaluate import Cell
from tts_gym.evaluation.stats import pareto_front
from tts_gym.store.files import write_file

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COST_AXES = (
    ("tokens_k", "tokens per question (thousands, log scale)"),
    ("seq_tokens_k", "sequential tokens per question (thousands, log scale)"),
)
"""The `Cell` property each panel of a store plots accuracy against, and its axis label."""


FORMATS = ("png", "jpg", "jpeg", "pdf", "svg", "svgz", "eps", "ps", "tif", "tiff", "webp")
"""Image formats a plot is written in, by file suffix (PNG without one): those of
matplotlib's that need nothing beyond matplotlib and Pillow (not pgf: LaTeX)."""


def plot_format(path: str | os.PathLike) -> str:
    """The format of a plot written to `path`, from its suffix; `TTSGymError` for a suffix
    that is no image format here, or when matplotlib is missing."""
    _matplotlib()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix and suffix not in FORMATS:
        raise TTSGymError(
            f"cannot write a plot as .{suffix} ({path}); use one of "
            f"{', '.join('.' + name for name in FORMATS)}."
        )
    return suffix or "png"


def pareto_plot(cells: Sequence[Cell], path: str | os.PathLike, title: str = "") -> Path:
    """Write `pareto_figure(cells, title)` atomically, in the format its suffix names."""
    buffer = io.BytesIO()
    pareto_figure(cells, title).savefig(buffer, format=plot_format(path), dpi=120)
    return write_file(path, buffer.getvalue())


def pareto_figure(cells: Sequence[Cell], title: str = "") -> Figure:
    """Per store, accuracy against total tokens (left) and sequential tokens (right): each
    series (a sweep, or one controller) as markers joined by a line, and each panel's Pareto
    front as a dashed grey line. Stores are laid out two to a row (four panels)."""
    _matplotlib()
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    stores = list(dict.fromkeys(cell.store.path for cell in cells))  # names may repeat
    titles = {cell.store.path: cell.store.name for cell in cells}
    if len(set(titles.values())) < len(titles):
        titles = {cell.store.path: f"{cell.model}: {cell.store.name}" for cell in cells}
    per_row = min(2, len(stores))
    columns = per_row * len(COST_AXES)
    rows = math.ceil(len(stores) / per_row)
    figure = Figure(figsize=(4.5 * columns, 4.0 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    panels = list(axes.flat)
    series = list(dict.fromkeys(cell.series for cell in cells))
    colours = {name: colormaps["tab10"](i % 10) for i, name in enumerate(series)}
    for s, store in enumerate(stores):
        here = [cell for cell in cells if cell.store.path == store]
        for a, (cost, label) in enumerate(COST_AXES):
            ax = panels[s * len(COST_AXES) + a]
            _draw_panel(ax, here, series, colours, cost)
            ax.set_title(_plain(titles[store]), fontsize=10)
            ax.set_xlabel(label)
            ax.set_ylabel("accuracy (%)")
    for ax in panels[len(stores) * len(COST_AXES) :]:
        ax.set_visible(False)
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=9)
    if title:
        figure.suptitle(_plain(title))
    figure.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(labels) / 4), 1, 1))
    return figure


def _draw_panel(
    ax: Axes, cells: Sequence[Cell], series: Sequence[str], colours: dict, cost: str
) -> None:
    """One store's accuracy against one cost axis (`cost`: a `Cell` property)."""
    from matplotlib import ticker

    for name in series:
        points = sorted((getattr(c, cost), c.acc) for c in cells if c.series == name)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, "o-", color=colours[name], label=_plain(name), markersize=5)
    costs = [getattr(c, cost) for c in cells]
    front = pareto_front(costs, [c.acc for c in cells])
    ax.plot(
        [costs[i] for i in front],
        [cells[i].acc for i in front],
        "--",
        color="grey",
        linewidth=1,
        zorder=0,
    )
    positive = [c for c in costs if c > 0]
    low, high = min(positive, default=1.0), max(positive, default=1.0)
    if len(positive) == len(costs):
        ax.set_xscale("log")
    else:  # a controller that spent nothing: linear near 0, logarithmic above
        ax.set_xscale("symlog", linthresh=low)
    # plain numbers at 1, 2, 5 x 10^k (log axes spanning less than a decade otherwise label
    # their minor ticks in scientific notation, on top of each other)
    ticks = [m * 10.0**k for k in range(-3, 8) for m in (1, 2, 5)]
    shown = [t for t in ticks if low / 1.2 <= t <= high * 1.2] or [low, high]
    shown = shown if len(positive) == len(costs) else [0.0, *shown]
    ax.xaxis.set_major_locator(ticker.FixedLocator(shown))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_tick_label))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


def _matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise TTSGymError("plots need matplotlib: pip install -e '.[plot]'.") from None


def _plain(text: str) -> str:
    """`text` shown as it is: `$` would start matplotlib's math mode (and an odd number of
    them is a parse error), control characters are escaped."""
    return printable(text).replace("$", r"\$")


def _tick_label(x: float, _position: int) -> str:
    return f"{x:,.0f}" if x >= 1 else f"{x:.2g}"
