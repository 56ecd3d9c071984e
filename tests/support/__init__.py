"""Helpers shared by the tests (controllers, paths); not tests themselves."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
