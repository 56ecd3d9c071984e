"""Batch calls, attacked: a batch request written by hand whose slot list does not add up is a
rejection naming it; numbers the candidate overwrites in its process are not the ones
reported; and a wave's results reach the candidate only when the parent has run it whole."""

import re

from tests.sandbox.hostile.test_forge_channel import FIND_CHANNEL
from tests.sandbox.support import HONEST, assert_rejected, controller, play
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store


def one_question(folder):
    """One question: a session runs one episode at a time, so a forged message that names
    that episode is read as a reply, not refused for leaving another one out."""
    return load_store(write_store(generate_store(1, 16, seed=3), folder / "one.json"))


def forged(records: str, slots: str) -> str:
    return controller(
        f"""
        episode = getattr(q, "_" + "episode")  # the proxy (a computed private name)
        records = struct.pack("<Iqqq", 1, episode.id, 5, {records})  # 5: ADVANCE_MANY
        slots = struct.pack("<I", len({slots})) + b"".join(struct.pack("<q", s) for s in {slots})
        body = b"A" + records + slots + struct.pack("<I", 0)
        os.write(channel(), struct.pack("<I", len(body)) + body)
        os._exit(0)
        """,
        FIND_CHANNEL,
    )


def test_a_batch_advance_longer_than_its_slot_list_is_a_rejection(tmp_path) -> None:
    run, _ = play(tmp_path, forged("3", "[0]"), store=one_question(tmp_path))
    assert_rejected(run, "a batch advance of 3 slots where the message lists 1")


def test_slots_that_no_batch_advance_asked_for_are_a_rejection(tmp_path) -> None:
    run, _ = play(tmp_path, forged("1", "[0, 1, 2]"), store=one_question(tmp_path))
    assert_rejected(run, "2 slots that no batch advance asked for")


OVERWRITES = HONEST.replace(
    "            votes = Counter(",
    """            episode = getattr(q, "_" + "episode")
            episode.tokens = episode.seq_tokens = 0  # "it cost nothing"
            votes = Counter(""",
)


def test_numbers_overwritten_in_the_sandbox_are_not_the_ones_reported(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    tampered, _ = play(tmp_path / "a", OVERWRITES)
    honest, _ = play(tmp_path / "b", HONEST)
    assert tampered.ok and honest.ok, (tampered.problems, honest.problems)
    for key, outcomes in honest.outcomes.items():
        assert (outcomes.tokens > 0).all()
        assert (tampered.outcomes[key].tokens == outcomes.tokens).all()
        assert (tampered.outcomes[key].seq_tokens == outcomes.seq_tokens).all()


PEEKS_INSIDE_THE_WAVE = controller(
    """
    q.branch_many(3)
    before = (q.tokens, q.seq_tokens, q.n_open)
    seen = []

    def slots():  # the wave's slot list, read lazily: does it see the wave run?
        for slot in (0, 1, 2):
            seen.append((q.tokens, q.seq_tokens, q.n_open))
            yield slot

    q.advance_many(slots())
    after = (q.tokens, q.seq_tokens, q.n_open)
    raise RuntimeError(f"before {before} seen {sorted(set(seen))} after {after}")
    """
)


def test_a_wave_runs_only_once_its_request_is_whole(tmp_path) -> None:
    run, _ = play(tmp_path, PEEKS_INSIDE_THE_WAVE, orders=1)
    assert not run.ok
    match = re.search(r"before (\(.*?\)) seen \[(\(.*?\))\] after (\(.*?\))", run.problems[0])
    assert match, run.problems
    before, seen, after = (eval(group) for group in match.groups())  # noqa: S307 - our text
    assert seen == before  # while the slots were read, nothing of the wave had happened
    assert after[0] > before[0] and after[1] > before[1]  # then the whole wave, at once
