"""Run engine controllers (`run(episode)`) and imperative ones (`solve(q)`) inside the env.

`EnvAdapter` turns such a controller into a step policy: the controller runs as a coroutine
against `_EnvEpisode`, a stand-in for the engine's `Episode` whose every action is handed to
`act` as one env action and pauses until the next `act` brings the env's answer. The
coroutine is a greenlet (a switch costs about a microsecond) or, without the `greenlet`
package, a thread (a hand-over costs tens of microseconds).
So a controller written as straight-line code can be stepped, traced and masked like any
policy, and the env and the harness are checked to be one truth (same answers, same tokens).

When the controller returns, the adapter submits the slot holding its answer (SUBMIT), or
ANSWER when no branch was opened and the answer is None; an answer no slot holds cannot be
given in the env and is a `PolicyError`.

Waves (docs/design.md): a batch call is one env step, a batch action, whose results all come back
when the step has: `advance_many(slots)` is ADVANCE_ALL, so `slots` must be exactly the alive
ones; `open_many(k)` / `read_many(k)` are OPEN_MANY(k) / READ_MANY(k) for k in `BATCH_WIDTHS`
(k = 1: BRANCH / READ). A call the env has no single action for raises `IllegalActionError`
saying so, rather than splitting its wave over several steps. The env has no action for a
group of single actions either: inside an engine controller's `episode.wave()` (the
built-ins' reference waves), each action is an env step and a wave of its own, so such a
controller spends the same tokens and gives the same answers in the env as on the engine, but
is charged more sequential tokens (all of them: its total, unless it also makes batch calls).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

try:
    import greenlet
except ImportError:  # pragma: no cover - the thread fallback
    greenlet = None

from tts_gym.control.errors import PolicyError
from tts_gym.control.handle import QuestionHandle
from tts_gym.control.protocols import check_answer, policy_kind, policy_name
from tts_gym.engine import NO_ANSWER
from tts_gym.engine.actions import BATCH_WIDTHS, WIDTH_KINDS, ActionKind, action_name, encode_action
from tts_gym.errors import IllegalActionError, brief


class _Abandoned(BaseException):
    """Unwinds a controller thread whose episode was reset (not an Exception on purpose)."""


class _EnvEpisode:
    """The engine `Episode`'s action interface, played one env step at a time."""

    def __init__(self, adapter: EnvAdapter, info: dict[str, Any]) -> None:
        self._adapter = adapter
        self._info = info
        self._ids: dict[str, int] = {}  # answer string -> id, in order of first reveal
        self._texts: list[str] = []
        self.revealed: list[int] = []  # per slot, the last revealed answer id
        self.n_opened = 0

    @property
    def tokens(self) -> int:
        return int(self._info["tokens"])

    @property
    def seq_tokens(self) -> int:
        return int(self._info["seq_tokens"])

    @property
    def can_open(self) -> bool:
        return bool(self._info["action_mask"][ActionKind.BRANCH])

    def answer_text(self, answer: int) -> str | None:
        return None if answer == NO_ANSWER else self._texts[answer]

    def open(self) -> tuple[int, int, bool]:
        info = self._step(ActionKind.BRANCH)
        return self._intern(info["revealed"], info["slot"]), info["slot"], info["finished"]

    def read(self) -> int:
        info = self._step(ActionKind.READ)
        return self._intern(info["revealed"], info["slot"])

    def advance(self, slot: int) -> tuple[int, bool]:
        info = self._step(ActionKind.CONTINUE, slot)
        return self._intern(info["revealed"], slot), info["finished"]

    def probe(self, slot: int) -> int:
        return self._intern(self._step(ActionKind.PROBE, slot)["revealed"], slot)

    def prune(self, slot: int) -> None:
        self._step(ActionKind.PRUNE, slot)

    @contextmanager
    def wave(self) -> Iterator[None]:
        """The env has no action for a group of single actions: each is a wave of its own."""
        yield

    def advance_many(self, slots: Sequence[int]) -> list[tuple[int, bool]]:
        """ADVANCE_ALL, when `slots` are exactly the alive slots (in any order)."""
        slots = list(slots)
        m = self._adapter.max_branches
        mask = self._info["action_mask"]
        if mask[encode_action(ActionKind.ADVANCE_ALL, 0, m)]:
            continues = (encode_action(ActionKind.CONTINUE, s, m) for s in range(self.n_opened))
            alive = [s for s, action in enumerate(continues) if mask[action]]
            if sorted(slots) != alive:
                raise IllegalActionError(
                    f"advance_many({slots}) has no single action in TTSControl-v0: its "
                    f"ADVANCE_ALL advances exactly the alive slots {alive}."
                )
        self._step(ActionKind.ADVANCE_ALL)
        return [self._result(slot, self._adapter.reveals) for slot in slots]

    def open_many(self, k: int) -> list[tuple[int, int, bool]]:
        """OPEN_MANY(k) (BRANCH for k = 1)."""
        if k == 1:
            return [self.open()]
        first = self._step_many(ActionKind.OPEN_MANY, k)
        results = []
        for slot in range(first, first + k):
            answer, finished = self._result(slot, self._adapter.reveals)
            results.append((answer, slot, finished))
        return results

    def read_many(self, k: int) -> list[int]:
        """READ_MANY(k) (READ for k = 1)."""
        if k == 1:
            return [self.read()]
        first = self._step_many(ActionKind.READ_MANY, k)
        return [self._result(slot, True)[0] for slot in range(first, first + k)]

    def _step_many(self, kind: ActionKind, k: int) -> int:
        """OPEN_MANY(k) or READ_MANY(k) as one env step; the first slot it opened."""
        if k not in BATCH_WIDTHS:
            call = "open_many" if kind is ActionKind.OPEN_MANY else "read_many"
            raise IllegalActionError(
                f"{call}({k}) has no single action in TTSControl-v0: {kind.name} takes k in "
                f"{BATCH_WIDTHS} (k = 1 is a single action)."
            )
        first = self.n_opened
        self._step(kind, k)
        return first

    def _result(self, slot: int, revealed: bool) -> tuple[int, bool]:
        """A batch action's result for `slot`, read off the env once the step has ended:
        (answer id or NO_ANSWER when the action revealed none, finished)."""
        episode = self._adapter._env.episode
        text = episode.answer_text(episode.revealed[slot]) if revealed else None
        return self._intern(text, slot), bool(episode.finished[slot])

    def _step(self, kind: ActionKind, slot: int = 0) -> dict[str, Any]:
        """One env step; `slot` is the slot of a per-slot kind and the width of a batch one."""
        adapter = self._adapter
        if kind in (ActionKind.BRANCH, ActionKind.READ):
            n_new = 1
        else:
            n_new = slot if kind in WIDTH_KINDS else 0
        legal = n_new > 0 or kind is ActionKind.ADVANCE_ALL or 0 <= slot < self.n_opened
        action = encode_action(kind, slot, adapter.max_branches) if legal else -1
        if not legal or not self._info["action_mask"][action]:
            name = action_name(kind, slot)
            raise IllegalActionError(f"{name} is not legal in TTSControl-v0 now (masked).")
        self._info = adapter._channel.pause(action)
        self.n_opened += n_new
        self.revealed.extend([NO_ANSWER] * n_new)
        return self._info

    def _intern(self, text: str | None, slot: int) -> int:
        if text is None:
            return NO_ANSWER
        answer = self._ids.get(text)
        if answer is None:
            answer = self._ids[text] = len(self._texts)
            self._texts.append(text)
        self.revealed[slot] = answer
        return answer

    def final_action(self, answer: str | None, name: str) -> int:
        """SUBMIT the lowest slot whose revealed answer is `answer` (ANSWER with no branch)."""
        if answer is None and self.n_opened == 0:
            return int(ActionKind.ANSWER)
        wanted = NO_ANSWER if answer is None else self._ids.get(answer, NO_ANSWER)
        mask = self._info["action_mask"]
        for slot, revealed in enumerate(self.revealed):
            action = encode_action(ActionKind.SUBMIT, slot, self._adapter.max_branches)
            if wanted != NO_ANSWER and revealed == wanted and mask[action]:
                return action
        raise PolicyError(
            f"policy '{name}' answered {answer!r}, which no slot holds, so TTSControl-v0 "
            "cannot submit it"
        )


Message = Any  # an action index, or the final ("done", action) / ("error", exception)


class _GreenletChannel:
    """Runs the controller as a greenlet: `start`/`resume` run it until its next `pause`."""

    def __init__(self) -> None:
        self._controller: Any = None
        self._env: Any = None

    def start(self, body: Callable[[], Message]) -> Message:
        self._env = greenlet.getcurrent()
        self._controller = greenlet.greenlet(body)
        return self._controller.switch()

    def pause(self, action: int) -> dict[str, Any]:
        return self._env.switch(action)

    def resume(self, info: dict[str, Any]) -> Message:
        return self._controller.switch(info)

    def abandon(self) -> None:
        if self._controller is not None and not self._controller.dead:
            self._controller.throw(_Abandoned())
        self._controller = None


class _ThreadChannel:
    """The same hand-over with a thread and two locks used as binary semaphores."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._to_env = threading.Lock()
        self._to_controller = threading.Lock()
        self._to_env.acquire()
        self._to_controller.acquire()
        self._message: Any = None

    def start(self, body: Callable[[], Message]) -> Message:
        def run() -> None:
            self._message = body()
            self._to_env.release()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self._receive()

    def pause(self, action: int) -> dict[str, Any]:
        self._message = action
        self._to_env.release()
        self._to_controller.acquire()
        if isinstance(self._message, _Abandoned):
            raise self._message
        return self._message

    def resume(self, info: dict[str, Any]) -> Message:
        self._message = info
        self._to_controller.release()
        return self._receive()

    def abandon(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._message = _Abandoned()
            self._to_controller.release()
            self._receive()
        self._thread = None

    def _receive(self) -> Message:
        self._to_env.acquire()
        if isinstance(self._message, tuple) or self._message is None:
            self._thread.join()
        return self._message


class EnvAdapter:
    """A step policy (`act(obs, info)`) that plays an engine or imperative controller.

    Bind it to the env it acts in (`EnvAdapter(controller, env)` or `bind(env)`); call
    `reset()` whenever the env starts a new episode (the harness does): the next `act` starts
    the controller afresh, abandoning one that was still running. `max_branches`, the probe
    interval and whether advances reveal come from the bound env. Batch calls and waves: see
    the module docstring.
    """

    def __init__(self, controller: Any, env: Any = None) -> None:
        kind = policy_kind(controller)
        if kind not in ("engine", "imperative"):
            raise TypeError("EnvAdapter needs a controller with run(episode) or solve(q).")
        self.controller = controller
        self.name = policy_name(controller)
        self._kind = kind
        self._env: Any = None
        self.max_branches = 0
        self.reveals = True  # the bound env's reveal_on_continue
        self._channel = _GreenletChannel() if greenlet is not None else _ThreadChannel()
        self._running = False
        self._fresh = True
        if env is not None:
            self.bind(env)

    def bind(self, env: Any) -> None:
        self._env = env.unwrapped
        self.max_branches = self._env.max_branches
        self.reveals = self._env.reveal_on_continue

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        if self._fresh:  # the first step of an episode
            if self._env is None:
                raise RuntimeError("EnvAdapter: bind(env) before act().")
            self._fresh = False
            episode = _EnvEpisode(self, info)
            interval = self._env.episode.question.probe_freq
            self._running = True
            message = self._channel.start(lambda: self._play(episode, interval))
        elif self._running:
            message = self._channel.resume(info)
        else:
            raise RuntimeError("EnvAdapter.act: the controller has already answered; reset().")
        if not isinstance(message, tuple):
            return message
        self._running = False
        status, payload = message
        if status == "done":
            return payload
        if isinstance(payload, PolicyError):
            raise payload
        raise PolicyError(f"policy '{self.name}' raised {brief(payload)}") from payload

    def reset(self) -> None:
        """A new episode begins: abandon the controller of an unfinished one."""
        if self._running:
            self._channel.abandon()
            self._running = False
        self._fresh = True

    def _play(self, episode: _EnvEpisode, interval: int) -> Message:
        try:
            if self._kind == "engine":
                answer = episode.answer_text(self.controller.run(episode))
            else:
                answer = self.controller.solve(QuestionHandle(episode, interval))
                check_answer(self.name, answer)
            return "done", episode.final_action(answer, self.name)
        except _Abandoned:
            return None
        except Exception as error:  # raised in the env's thread by `act`
            return "error", error
