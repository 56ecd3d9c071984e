"""Issue 21, arguments and the terminal: one rule for numbers at every command's door, and
what is printed can neither be split, nor coloured, nor crash on the terminal's encoding.

Every bad argument ends in exactly one line on stderr and a non-zero exit (2: a usage error
argparse saw; 1: a value only the command can judge), before any work: the cases run the
command in-process, and none of them gets far enough to read its store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tts_gym.cli import main
from tts_gym.cli.options import SEED_MAX
from tts_gym.store.synthetic import generate_store, write_store

NO_STORE = "no-such-store.json"  # a case that got past its arguments would fail on this
EVAL = ["eval", "--policy", "cmc", "--stores", NO_STORE]
TRAIN = ["train", "--stores", NO_STORE, "--out", "never"]
CHECK = ["check-controller", "no.py:C", "--stores", NO_STORE]
DISCOVER = ["discover", "x", "--stores", NO_STORE]

BAD_ARGUMENTS = [
    ([*EVAL, "--seed", "-1"], 2, f"--seed: expected a whole number from 0 to {SEED_MAX}"),
    ([*EVAL, "--seed", "1.5"], 2, "--seed: expected a whole number"),
    ([*EVAL, "--seed", str(SEED_MAX + 1)], 2, "--seed: expected a whole number"),
    ([*EVAL, "--orders", "0"], 2, "--orders: expected a whole number of at least 1, got '0'"),
    ([*EVAL, "--orders", "1e6"], 2, "--orders: expected a whole number"),
    ([*EVAL, "--orders", "2.5"], 2, "--orders: expected a whole number"),
    ([*EVAL, "--orders", str(2**64)], 2, "--orders: expected a whole number"),
    ([*EVAL, "--jobs", "0"], 2, "--jobs/-j: expected a whole number of at least 1"),
    ([*EVAL, "--timeout", "nan"], 2, "is not a positive number of seconds"),
    ([*EVAL, "--timeout", "inf"], 2, "is not a positive number of seconds"),
    ([*EVAL, "--sweep", "beta=nan,inf"], 1, "--sweep beta=nan is not a finite number"),
    ([*EVAL, "--sweep", "beta=0.5,1e400"], 1, "--sweep beta=inf is not a finite number"),
    ([*EVAL, "--sweep", "beta=-inf"], 1, "--sweep beta=-inf is not a finite number"),
    ([*EVAL, "--config", "beta=nan"], 1, "--config beta=nan is not a finite number"),
    ([*EVAL, "--config", f"n={2**64}"], 1, "is beyond 64-bit integers"),
    (["reproduce", "--orders", "-3"], 2, "--orders: expected a whole number of at least 1"),
    ([*TRAIN, "--token-penalty", "inf"], 2, "--token-penalty: expected a finite number"),
    ([*TRAIN, "--token-penalty", "nan"], 2, "--token-penalty: expected a finite number"),
    ([*TRAIN, "--token-penalty", "-1"], 2, "of at least 0, got '-1'"),
    ([*TRAIN, "--seed", "-1"], 2, "--seed: expected a whole number from 0"),
    ([*TRAIN, "--timesteps", "1.5"], 2, "--timesteps: expected a whole number"),
    ([*TRAIN, "--n-envs", "0"], 2, "--n-envs: expected a whole number of at least 1"),
    ([*TRAIN, "--sweep", "0.1,nan"], 2, "--sweep: expected a finite number of at least 0"),
    ([*TRAIN, "--sweep", ","], 2, "--sweep: expected comma-separated values, got ','"),
    ([*CHECK, "--time-limit", "nan"], 2, "--time-limit: expected a finite number above 0"),
    ([*CHECK, "--time-limit", "inf"], 2, "--time-limit: expected a finite number above 0"),
    ([*CHECK, "--time-limit", "0"], 2, "--time-limit: expected a finite number above 0"),
    ([*CHECK, "--seed", "-1"], 2, "--seed: expected a whole number from 0"),
    ([*CHECK, "--memory-mb", "12.5"], 2, "--memory-mb: expected a whole number of at least 256"),
    ([*DISCOVER, "--time-limit", "inf"], 2, "--time-limit: expected a finite number above 0"),
    (["fetch", "x", "--mirror", "garbage"], 2, "the mirror 'garbage' is not an http://"),
    (["fetch", "x", "--mirror", "ftp://host/x"], 2, "is not an http://, https:// or file://"),
    (["validate"], 2, "the following arguments are required: PATH_OR_NAME"),
    (["eval", "--policy", "sc", "--stores", "s", "--bogus"], 2, "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(
    "argv, code, says", BAD_ARGUMENTS, ids=[" ".join(argv[-2:]) for argv, *_ in BAD_ARGUMENTS]
)
def test_a_bad_argument_is_one_line_before_any_work(argv, code, says, capsys) -> None:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and says in captured.err, captured.err
    assert captured.err.startswith(f"tts-gym {argv[0]}: ")
    assert NO_STORE not in captured.err  # refused before the store was looked for


def test_a_bad_mirror_from_the_environment_is_one_line(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TTS_GYM_MIRROR", "garbage")
    assert main(["fetch", "autotts/qwen3-8b/aime24", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "$TTS_GYM_MIRROR" in err


def test_version(capsys) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tts-gym {version('tts-gym')}\n"


# ---- the terminal --------------------------------------------------------------------------
@pytest.fixture
def names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Stores whose file names hold a newline and an ANSI escape, and Japanese."""
    monkeypatch.chdir(tmp_path)
    store = generate_store(2, 4, seed=0)
    hostile = write_store(store, tmp_path / "evil\n\x1b[31mred\x1b[0m.json")
    japanese = write_store(store, tmp_path / "日本語.json")
    broken = tmp_path / "broken\n\x1b[2J.json"
    broken.write_text("{")
    return {"hostile": hostile, "japanese": japanese, "broken": broken}


def test_control_characters_in_names_neither_split_nor_colour_a_line(names, capsys) -> None:
    assert main(["validate", str(names["broken"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "broken\\n\\x1b[2J.json" in err
    assert main(["validate", str(names["hostile"]), "-o", str(names["hostile"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "evil\\n\\x1b[31mred" in err
    assert main(["validate", str(names["hostile"])]) == 0  # the table escapes it too
    out = capsys.readouterr().out
    assert "\x1b" not in out and "evil\\n\\x1b[31mred\\x1b[0m" in out


ASCII_RUN = """
import sys
from tts_gym.cli import main
for argv in {argvs!r}:
    code = main(argv)
    print(f"exit {{code}}", file=sys.stderr)
"""


@pytest.mark.parametrize("environment", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C"}])
def test_a_non_ascii_name_on_an_ascii_terminal_does_not_crash(names, environment) -> None:
    """A table, JSON, an evaluation and an error line naming `日本語.json`, in one process
    whose streams have the terminal's encoding."""
    store = str(names["japanese"])
    argvs = [
        ["validate", store],
        ["validate", store, "--format", "json"],
        ["eval", "--policy", "sc", "--stores", store, "--orders", "2", "-q", "--no-baselines"],
        ["validate", store, "-o", store],
    ]
    env = {**os.environ, **environment}
    encoding = "ascii" if "PYTHONIOENCODING" in env else "utf-8"  # C: Python coerces to UTF-8
    done = subprocess.run(
        [sys.executable, "-c", ASCII_RUN.format(argvs=argvs)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    err = done.stderr.decode(encoding)
    assert done.returncode == 0 and "Traceback" not in err, err
    assert [line for line in err.splitlines() if line.startswith("exit")] == [
        "exit 0", "exit 0", "exit 0", "exit 1"
    ]  # fmt: skip
    out = done.stdout.decode(encoding)  # everything written was encodable, or escaped
    name = "\\u65e5\\u672c\\u8a9e" if encoding == "ascii" else "日本語"
    assert (out + err).count(name) >= 4  # both tables, the error line (and JSON's escapes)
    rows, _ = json.JSONDecoder().raw_decode(out, out.index("[\n  {"))
    assert rows[0]["name"] == "日本語"
