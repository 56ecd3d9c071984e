"""`tts-gym stores`: the catalog of known stores and which of them are in the data folder."""

from __future__ import annotations

import argparse

from rich import box
from rich.console import Console
from rich.table import Table

from tts_gym.cli.options import add_data_dir, add_format, render
from tts_gym.cli.terminal import cell as shown
from tts_gym.store.catalog import CATALOG
from tts_gym.store.paths import catalog_path, data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stores",
        help="list the known replay stores and whether they are downloaded",
        description="List the catalog of replay stores and whether each is in the data folder.",
    )
    add_data_dir(parser)
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = [
        {
            "name": entry.name,
            "model": entry.model,
            "benchmark": entry.benchmark,
            "role": entry.role,
            "present": (path := catalog_path(entry, args.data_dir)).is_file(),
            "path": str(path),
        }
        for entry in CATALOG.values()
    ]
    render(args, rows, lambda: _print_table(rows, args.data_dir))
    return 0


def _print_table(rows: list[dict], folder: str | None) -> None:
    table = Table(
        title=shown(f"replay stores in the data folder {data_dir(folder)}"), box=box.SIMPLE
    )
    table.add_column("name", no_wrap=True)
    for column in ("model", "benchmark", "role", "present"):
        table.add_column(column)
    table.add_column("file", overflow="fold")
    for entry, row in zip(CATALOG.values(), rows, strict=True):
        present = "[green]yes[/]" if row["present"] else "[red]no[/]"
        cells = (entry.name, entry.model, entry.benchmark, entry.role, present)
        table.add_row(*cells, entry.relative_path)
    console = Console()
    if not console.is_terminal:  # piped: one line per store rather than 80-column wrapping
        console = Console(width=200)
    console.print(table)
    missing = sum(not row["present"] for row in rows)
    if missing:
        console.print(f"{missing} missing; get them with `tts-gym fetch NAME` or `--all`.")
