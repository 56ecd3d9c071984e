"""Padded tables hold exactly what the stores hold, question by question."""

from __future__ import annotations

import numpy as np
import pytest

from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store
from tts_gym.store.tables import PAD, StoreTables


@pytest.fixture
def stores(tmp_path):
    edge = generate_store(4, (1, 6), seed=3, zero_probe_share=0.3, all_err_questions=1)
    plain = generate_store(3, 9, seed=4, confidence=True)
    return [
        load_store(write_store(edge, tmp_path / "e.json")),
        load_store(write_store(plain, tmp_path / "p.json")),
    ]


def test_tables_match_the_stores(stores):
    tables = StoreTables.build(stores)
    assert tables.n_questions == 7 and list(tables.offsets) == [0, 4, 7]
    for s, store in enumerate(stores):
        for question in store.questions:
            g = tables.global_question(s, question.index)
            assert (tables.store_of[g], tables.question_of[g]) == (s, question.index)
            assert tables.n_branches[g] == question.n_branches
            assert tables.probe_freq[g] == question.probe_freq
            assert tables.gold[g] == question.gold_id
            assert tables.n_answers[g] == len(question.answers)
            assert tables.has_confidence[g] == (question.confidence is not None)
            for b in range(question.n_branches):
                k = len(question.probes[b])
                assert tables.n_probes[g, b] == k
                assert tuple(tables.probes[g, b, :k]) == question.probes[b]
                assert (tables.probes[g, b, k:] == PAD).all()
                assert tables.lengths[g, b] == question.tokens[b]
                assert tables.finals[g, b] == question.finals[b]
                if question.confidence is not None:
                    np.testing.assert_allclose(
                        tables.confidence[g, b, :k], question.confidence[b], rtol=1e-6
                    )
            assert (tables.finals[g, question.n_branches :] == PAD).all()


def test_tables_are_read_only(stores):
    tables = StoreTables.build(stores)
    with pytest.raises(ValueError):
        tables.probes[0, 0, 0] = 1
