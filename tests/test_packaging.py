"""The package as installed: its list of packages, a light `import tts_gym`, its plug-ins."""

from __future__ import annotations

import subprocess
import sys

import tomllib

from tests.support import REPO_ROOT
from tts_gym.cli import build_parser
from tts_gym.control.loading import schemes
from tts_gym.store.synthetic import generate_store, write_store

HEAVY = ("rich", "matplotlib", "greenlet", "torch", "anthropic", "openai", "ray")
HEAVY += ("tts_gym.evaluation", "tts_gym.sandbox")


def test_every_package_folder_is_listed_in_pyproject():
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    renamed = {folder: name for name, folder in setuptools["package-dir"].items()}
    found = set()
    for folder in ("tts_gym", *renamed):
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO_ROOT).parts
            found.add(".".join((renamed.get(parts[0], parts[0]), *parts[1:])))
    assert sorted(setuptools["packages"]) == sorted(found)


def test_import_tts_gym_and_gym_make_stay_light(tmp_path):
    store = write_store(generate_store(2, 8, seed=0), tmp_path / "tiny.json")
    code = (
        "import sys, gymnasium as gym, tts_gym\n"
        f"gym.make('TTSControl-v0', stores=[{str(store)!r}]).reset(seed=0)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_agents_plug_in_from_above():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"train", "discover", "check-controller"} <= set(commands)
    assert "sb3" in schemes()
