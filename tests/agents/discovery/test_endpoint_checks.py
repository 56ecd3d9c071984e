"""Fail before spending: every proposer asks its endpoint (credentials, model, reachability)
before the baselines are scored and before a run folder exists. Each refusal is one
sentence, no folder is made and no completion is ever asked for."""

from __future__ import annotations

import pytest

from tests.agents.discovery.conftest import closed_port
from tests.agents.discovery.fixtures import fake_agent
from tests.agents.discovery.fixtures.mock_api import MockAnthropic, MockOpenAI
from tts_gym.cli import main

SMALL = ["--stores", "autotts/qwen3-8b/aime24", "--questions", "2", "--orders", "1"]
OPENAI = ["--proposer", "openai", "--model", "local-coder"]
LOCAL = [*OPENAI, "--price-in", "0", "--price-out", "0"]


def refused(tmp_path, capsys, *args: str) -> str:
    """Run `discover` expecting one sentence and no run folder; return the sentence."""
    assert main(["discover", "run", "--runs-dir", str(tmp_path), *SMALL, *args]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()
    return err


@pytest.mark.real_stores
@pytest.mark.parametrize(
    ("server", "env", "args", "said"),
    [
        (
            {"model": "another-model"},
            {},
            LOCAL,
            "does not serve the model 'local-coder' (it serves another-model).",
        ),
        (
            {"api_key": "right"},
            {"OPENAI_API_KEY": "wrong"},
            LOCAL,
            "refused the key in OPENAI_API_KEY (authentication failed).",
        ),
        (
            {"api_key": "right"},
            {"MY_LOCAL_KEY": "wrong"},
            [*LOCAL, "--api-key-env", "MY_LOCAL_KEY"],
            "refused the key in MY_LOCAL_KEY",
        ),
        ({}, {}, [*OPENAI, "--price-in", "1"], "give both --price-in and --price-out, or neither."),
    ],
)
def test_the_openai_endpoint_is_asked_first(
    tmp_path, monkeypatch, capsys, server, env, args, said
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with MockOpenAI({}, failures={}, **server) as api:
        err = refused(tmp_path, capsys, *args, "--base-url", api.base_url)
    assert said in err
    assert api.requests == []  # no completion was asked for


@pytest.mark.real_stores
def test_an_unreachable_endpoint_or_an_unknown_price(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = f"http://127.0.0.1:{closed_port()}/v1"
    assert "cannot reach the endpoint" in refused(tmp_path, capsys, *LOCAL, "--base-url", url)
    err = refused(tmp_path, capsys, "--proposer", "openai", "--model", "my-model")
    assert "no price is known for the model 'my-model': give --price-in and --price-out" in err


@pytest.mark.real_stores
def test_the_anthropic_endpoint_is_asked_first(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "wrong")
    with MockAnthropic({}, failures={}, model="claude-opus-4-7") as api:
        err = refused(tmp_path, capsys, "--base-url", api.url)
        assert (
            f"the Anthropic API at {api.url}" in err and "has no model 'claude-sonnet-4-6'" in err
        )
    with MockAnthropic({}, failures={}, api_key="right") as api:
        err = refused(tmp_path, capsys, "--base-url", api.url)
        assert "refused the key (authentication failed)." in err
    assert api.requests == []


@pytest.mark.real_stores
@pytest.mark.parametrize(
    ("proposer", "name", "said"),
    [
        ("claude-code", "claude", "the claude-code CLI is not logged in ('"),
        ("codex", "codex", "the codex CLI is not logged in ('"),
    ],
)
def test_a_cli_agent_is_checked_first(tmp_path, monkeypatch, capsys, proposer, name, said) -> None:
    for key in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CODEX_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    folder = fake_agent.install(tmp_path / "bin", name)
    monkeypatch.setenv("PATH", fake_agent.on_path(folder))
    monkeypatch.setenv("FAKE_AGENT_LOG", str(tmp_path / "agent.log"))
    monkeypatch.setenv("FAKE_AGENT_LOGGED_IN", "0")
    assert said in refused(tmp_path, capsys, "--proposer", proposer)
    assert not (tmp_path / "agent.log").exists()  # it was never run
    monkeypatch.setenv("FAKE_AGENT_LOGGED_IN", "1")
    monkeypatch.setenv("PATH", str(folder))  # the agent, but no bubblewrap
    err = refused(tmp_path, capsys, "--proposer", proposer)
    assert "hides the data folder from the agent with bubblewrap: install it" in err
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    err = refused(tmp_path, capsys, "--proposer", proposer, "--codex-executable", "no-codex")
    assert "needs the '" in err and "command on PATH" in err
