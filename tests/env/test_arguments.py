"""The door: every argument of the envs, every reset seed and option, every action, checked
by one rule and refused in one sentence (issue 21); the arguments declared once (issue 23)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from dataclasses import fields

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tts_gym
from tests.support import REPO_ROOT
from tests.support.episodes import write_edge_stores
from tts_gym import TTSControlEnv, TTSControlVectorEnv
from tts_gym.env import EnvArgumentError, EnvConfig
from tts_gym.env.arguments import MAX_BRANCHES, markdown_table
from tts_gym.errors import TTSGymError

ENV_IDS = sorted(tts_gym.ENV_IDS)


@pytest.fixture(scope="module")
def edge_stores(tmp_path_factory) -> dict[str, str]:
    return write_edge_stores(tmp_path_factory.mktemp("arguments"))


def one_sentence(error: BaseException) -> bool:
    text = str(error)
    return "\n" not in text and text.endswith(".") and len(text) < 400


BAD_ARGUMENTS = [
    (dict(max_branches=2.5), "max_branches must be an integer in 1..512"),
    (dict(max_branches=13.0), "max_branches must be an integer"),
    (dict(max_branches=True), "max_branches must be an integer"),
    (dict(max_branches=0), "max_branches must be an integer in 1..512"),
    (dict(max_branches=3000), "max_branches must be an integer in 1..512, got 3000"),
    (dict(budget=2.5), "budget must be None or an integer in 1..10\\*\\*15"),
    (dict(budget=0), "budget must be None or an integer"),
    (dict(budget=10**30), "budget must be None or an integer in 1.."),
    (dict(probe_cost=2.5), "probe_cost must be an integer in 0.."),
    (dict(probe_cost=-1), "probe_cost must be an integer in 0.."),
    (dict(token_penalty=float("nan")), "token_penalty must be a finite number"),
    (dict(token_penalty=float("inf")), "token_penalty must be a finite number"),
    (dict(token_penalty=-0.1), r"token_penalty must be a finite number in \[0, 1e\+09\]"),
    (dict(token_penalty="0.5"), "token_penalty must be a finite number"),
    (dict(token_penalty=10**400), "token_penalty must be a finite number"),
    (dict(token_penalty=True), "token_penalty must be a finite number"),
    (dict(latency_penalty=float("nan")), "latency_penalty must be a finite number"),
    (dict(latency_penalty=-1), "latency_penalty must be a finite number"),
    (dict(latency_penalty=None), "latency_penalty must be a finite number"),
    (dict(max_parallel=0), "max_parallel must be None or an integer in 1..512"),
    (dict(max_parallel=2.0), "max_parallel must be None or an integer"),
    (dict(reveal_on_continue="yes"), "reveal_on_continue must be True or False"),
    (dict(engine="jax"), "engine must be one of 'compiled', 'python'"),
    (dict(render_mode="rgb"), "render_mode must be one of None, 'ansi', 'rgb_array', 'human'"),
    (dict(illegal_actions="skip"), "illegal_actions must be one of 'ignore', 'raise'"),
    (dict(stores=123), "stores must be a store name, group or path"),
    (dict(stores=[]), "stores must be a store name"),
    (dict(stores=[1, 2]), "stores must be a store name"),
    (dict(data_dir=123), "data_dir must be None or a folder path, got 123"),
    (dict(max_branchs=8), "takes no argument 'max_branchs'; its arguments: stores, max_branches"),
]


@pytest.mark.parametrize("bad, message", BAD_ARGUMENTS)
def test_bad_arguments_are_one_sentence(edge_stores, bad, message):
    kwargs = dict(stores=[edge_stores["mixed"]]) | bad
    for make in (TTSControlEnv, TTSControlVectorEnv):
        with pytest.raises(EnvArgumentError, match=message) as raised:
            make(**kwargs)
        assert one_sentence(raised.value)


def test_max_branches_is_refused_before_anything_is_built(monkeypatch, edge_stores):
    """The bound holds before stores load or arrays are allocated (3000 slots once took GBs)."""
    import tts_gym.env.arguments as arguments

    monkeypatch.setattr(arguments, "select_stores", lambda *a: pytest.fail("stores were read"))
    with pytest.raises(EnvArgumentError, match="got 3000"):
        gym.make("TTSControl-v0", stores=[edge_stores["mixed"]], max_branches=3000)
    assert MAX_BRANCHES == 512


def test_vector_sizes_are_bounded(edge_stores):
    with pytest.raises(EnvArgumentError, match=r"num_envs must be an integer in 1\.\.65536"):
        TTSControlVectorEnv(10**6, stores=[edge_stores["mixed"]], max_branches=64)
    with pytest.raises(EnvArgumentError, match="num_envs must be an integer"):
        TTSControlVectorEnv(2.0, stores=[edge_stores["mixed"]])


def test_no_stores_is_one_sentence():
    with pytest.raises(TTSGymError, match="stores must be"):
        TTSControlEnv(stores=[])


@pytest.mark.parametrize("make", [TTSControlEnv, TTSControlVectorEnv])
def test_arguments_read_as_attributes_of_one_home(edge_stores, make):
    """The MDP's arguments read as attributes, from `config` (setting one would leave the
    env playing the old value, so it is refused)."""
    arguments = dict(max_branches=8, token_penalty=2.0, probe_cost=3, reveal_on_continue=False,
                     budget=50_000, latency_penalty=0.5, max_parallel=4)  # fmt: skip
    env = make(stores=[edge_stores["mixed"]], **arguments)
    assert {name: getattr(env, name) for name in arguments} == arguments
    assert env.config == EnvConfig.checked({"stores": [edge_stores["mixed"]], **arguments})
    with pytest.raises(AttributeError):
        env.token_penalty = 1.0


def test_numpy_integers_are_arguments(edge_stores):
    env = TTSControlEnv(
        stores=[edge_stores["mixed"]], max_branches=np.int64(4), budget=np.int32(9000)
    )
    assert env.action_space.n == 3 + 4 * 4 + 13 and env.budget == 9000


def test_one_declaration_feeds_signatures_docstrings_and_docs():
    names = [f.name for f in fields(EnvConfig)]
    for cls in (TTSControlEnv, TTSControlVectorEnv, tts_gym.env.TTSControlMacroEnv):
        parameters = inspect.signature(cls).parameters
        assert [p for p in parameters if p in names] == names
        assert all(parameters[f.name].default == f.default for f in fields(EnvConfig))
        assert all(f"{name}:" in cls.__doc__ for name in names)
    assert markdown_table() in (REPO_ROOT / "docs" / "env.md").read_text()


# ---- reset: seeds and options ---------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize(
    "seed, message",
    [
        (1.5, "seed must be None or an integer >= 0, got 1.5"),
        (3.0, "seed must be None or an integer >= 0"),
        (-1, "seed must be None or an integer >= 0, got -1"),
        (True, "seed must be None or an integer >= 0"),
        ("7", "seed must be None or an integer >= 0"),
    ],
)
def test_bad_seeds_are_refused(edge_stores, env_id, seed, message):
    env = gym.make(env_id, stores=[edge_stores["mixed"]], max_branches=8)
    with pytest.raises(EnvArgumentError, match=message):
        env.reset(seed=seed)
    vector = gym.make_vec(env_id, num_envs=2, stores=[edge_stores["mixed"]], max_branches=8)
    with pytest.raises(EnvArgumentError, match=message.replace("seed", "seed")):
        vector.reset(seed=seed)
    assert env.reset(seed=np.int64(3))[0] in env.observation_space


@pytest.mark.parametrize(
    "options, message",
    [
        ({"questoin": 3}, r"unknown reset options \['questoin'\]; known: \['store', 'question'"),
        ([("question", 1)], "options must be None or a dict"),
        ({"question": 1.0}, r"options\['question'\] = 1.0 is outside"),
        ({"question": True}, r"options\['question'\] = True is outside"),
        ({"question": "0"}, r"options\['question'\] = '0' is outside"),
        ({"question": 0, "store": 2.0}, r"options\['store'\] = 2.0 is not one of"),
        ({"question": 0, "order": "abc"}, r"options\['order'\] must list distinct"),
        ({"question": 0, "order": [[0]]}, r"options\['order'\] must list distinct"),
        ({"question": 0, "order": [0, [1]]}, r"options\['order'\] must list distinct"),
        ({"question": 0, "order": [10**30]}, r"options\['order'\] must list distinct"),
    ],
)
def test_bad_reset_options_are_one_sentence(edge_stores, options, message):
    for engine in ("compiled", "python"):
        env = TTSControlEnv(stores=[edge_stores["mixed"]], max_branches=8, engine=engine)
        with pytest.raises(EnvArgumentError, match=message) as raised:
            env.reset(options=options)
        assert one_sentence(raised.value)


# ---- properties: anything at the door ends in a sentence ------------------------------------
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-3, max_value=50), max_size=4),
    st.sampled_from(["search", "compiled", "python", "ignore", "raise", "ansi", "rgb_array"]),
)
NAMES = st.sampled_from([f.name for f in fields(EnvConfig) if f.name != "stores"] + ["bogus"])


@pytest.fixture(scope="module")
def store(edge_stores) -> str:
    return edge_stores["mixed"]


@pytest.fixture(scope="module")
def property_env(store) -> TTSControlEnv:
    return TTSControlEnv(stores=[store], max_branches=8)


@pytest.mark.filterwarnings("ignore:.*render_mode:UserWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arguments=st.dictionaries(NAMES, VALUES, max_size=4))
def test_random_arguments_build_an_env_or_say_why(store, arguments):
    """`gym.make` (and the constructors) with random keyword arguments, on a synthetic
    store, work or raise a ValueError / TypeError of one sentence: never an OverflowError, a
    traceback from deep inside, or a multi-line message. (`gym.make` itself reads
    `render_mode` as a string first, so it is handed strings and None there.)"""
    arguments = {**arguments, "stores": [store]}
    makers = [TTSControlEnv, lambda **a: TTSControlVectorEnv(2, **a)]
    if arguments.get("render_mode") is None or isinstance(arguments["render_mode"], str):
        makers.append(lambda **a: gym.make("TTSControl-v0", disable_env_checker=True, **a))
    for make in makers:
        try:
            env = make(**arguments)
        except (ValueError, TypeError) as error:
            assert one_sentence(error), error
            continue
        obs, _ = env.reset(seed=0)
        assert obs in env.observation_space


OPTIONS = st.dictionaries(
    st.sampled_from(["store", "question", "order", "seed", "episode"]), VALUES, max_size=3
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=OPTIONS, seed=VALUES)
def test_random_reset_options_and_seeds_reset_or_say_why(property_env, options, seed):
    try:
        obs, _ = property_env.reset(seed=seed, options=options)
    except (ValueError, TypeError) as error:
        assert one_sentence(error), error
        return
    assert obs in property_env.observation_space


# ---- a step policy's return, through `tts-gym eval` -----------------------------------------
@pytest.mark.parametrize("returned", ["0.7", '"2"', "True", "None", "10**30"])
def test_step_policy_returns_that_are_not_actions_are_refused(edge_stores, tmp_path, returned):
    """A step policy's `act` must return an integer action: 0.7, "2" or True are refused in
    one sentence by `tts-gym eval`, not truncated, parsed or counted as 1."""
    policy = tmp_path / "policy.py"
    policy.write_text(f"class Bad:\n    def act(self, obs, info):\n        return {returned}\n")
    result = subprocess.run(
        [sys.executable, "-m", "tts_gym.cli", "eval", "--policy", f"{policy}:Bad", "--stores",
         edge_stores["mixed"], "--orders", "1", "--no-baselines", "--jobs", "1", "--quiet"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "returned" in result.stderr and "not an action" in result.stderr
