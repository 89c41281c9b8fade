"""A batch of deletions: the request's limits, and the answer the client reads back."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.deletions import MAX_DELETIONS, DeleteFiles, Deletions, Refusal
from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import new_id


def test_a_batch_names_one_to_a_page_of_distinct_file_ids() -> None:
    ids = tuple(new_id() for _ in range(MAX_DELETIONS))
    assert DeleteFiles.parse(DeleteFiles(ids).to_json()).ids == ids
    bad: list[Any] = [[], [*ids, new_id()], [ids[0], ids[0]], ["x"], None, ids[0]]
    for value in bad:
        with pytest.raises(ProtocolError) as caught:
            DeleteFiles.parse({"ids": value})
        assert caught.value.code == "invalid_ids"


def test_the_answer_round_trips_and_a_malformed_one_is_refused() -> None:
    answer = Deletions((new_id(),), (Refusal(new_id(), "file_on_hold", "held", 403),))
    assert Deletions.parse(answer.to_json()) == answer
    malformed: list[Any] = [{"deleted": [], "refused": [{"id": "x"}]}, {"deleted": "all", "refused": []}, []]
    for value in malformed:
        with pytest.raises(ProtocolError):
            Deletions.parse(value)
