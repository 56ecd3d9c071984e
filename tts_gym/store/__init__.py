"""Layer 1: replay stores (loading, validation, catalog, data folder, download)."""

from tts_gym.store.catalog import CATALOG, GROUPS, CatalogEntry, catalog_entry, expand_store_names
from tts_gym.store.paths import DATA_ENV_VAR, data_dir, resolve_store
from tts_gym.store.replay import ERR, Question, ReplayStore, load_store, parse_questions
from tts_gym.store.select import (
    StoreRef,
    identify_stores,
    refuse_held_out_stores,
    select_stores,
    shared_questions,
)
from tts_gym.store.summary import StoreSummary, summarize
from tts_gym.store.writer import write_store

__all__ = [
    "CATALOG",
    "DATA_ENV_VAR",
    "ERR",
    "GROUPS",
    "CatalogEntry",
    "Question",
    "ReplayStore",
    "StoreRef",
    "StoreSummary",
    "catalog_entry",
    "data_dir",
    "expand_store_names",
    "identify_stores",
    "load_store",
    "parse_questions",
    "refuse_held_out_stores",
    "resolve_store",
    "select_stores",
    "shared_questions",
    "summarize",
    "write_store",
]
