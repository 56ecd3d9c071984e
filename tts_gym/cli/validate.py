"""`tts-gym validate`: load a store with full validation and print what it contains."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from tts_gym.cli.options import add_data_dir, add_format, render
from tts_gym.cli.outputs import add_inputs
from tts_gym.cli.terminal import cell as shown
from tts_gym.store.catalog import CATALOG
from tts_gym.store.replay import load_store
from tts_gym.store.summary import summarize


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a replay store and summarise it",
        description=(
            "Load a store (catalog name or JSON file) with full validation and print a summary; "
            "a malformed store gives one sentence naming the file, question and field. A file "
            "whose content is a catalog store is reported under that store's name."
        ),
    )
    parser.add_argument("store", metavar="PATH_OR_NAME")
    add_inputs(parser, "stores", "store")
    add_data_dir(parser)
    add_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = load_store(args.store, args.data_dir)
    summary = summarize(store).to_dict()
    entry = CATALOG.get(store.name)
    # A catalog store that loads may still not be the pinned version: say so, do not fail.
    summary["catalog_checksum"] = (
        None if entry is None else ("ok" if store.sha256 == entry.sha256 else "differs")
    )
    render(args, [summary], lambda: _print_table(store.name, summary))
    return 0


def _print_table(name: str, summary: dict) -> None:
    table = Table(title=shown(f"{name}: valid"), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        table.add_row(key, shown(_show(value)))
    Console().print(table)


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "-" if value is None else str(value)
