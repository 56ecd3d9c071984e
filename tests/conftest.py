"""Shared fixtures and markers.

The real AutoTTS stores are read from the data folder (`$TTS_GYM_DATA`, else the user cache
that `tts-gym fetch --all` fills); they are never committed. Tests that need them carry the
`real_stores` marker (or use the `shared_replay` fixture) and are skipped, saying how to get
the stores, when the folder does not hold all twelve. CI sets TTS_GYM_DATA=../shared/replay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_gym.store import CATALOG, data_dir

DATA = data_dir().resolve()
HAVE_STORES = all((DATA / entry.relative_path).is_file() for entry in CATALOG.values())
SLOW_TIMEOUT = 1800
"""Seconds a `slow` test may take (the default suite's limit is pyproject's `timeout`)."""
NO_STORES = (
    f"the twelve AutoTTS stores are not in {DATA}: run `tts-gym fetch --all` or set TTS_GYM_DATA"
)


@pytest.fixture(scope="session")
def shared_replay() -> Path:
    """The data folder holding `autotts/<Model>/<benchmark>.json` (skips without the stores)."""
    if not HAVE_STORES:
        pytest.skip(NO_STORES)
    return DATA


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long checks (minutes); opt in with `pytest -m slow`, skipped otherwise"
    )
    config.addinivalue_line(
        "markers", "real_stores: needs the twelve AutoTTS stores (skipped when they are absent)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = "slow" in (config.option.markexpr or "")
    skip_slow = pytest.mark.skip(reason="slow: opt in with `pytest -m slow`")
    skip_data = pytest.mark.skip(reason=NO_STORES)
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "slow" in item.keywords and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
        if "real_stores" in item.keywords and not HAVE_STORES:
            item.add_marker(skip_data)
