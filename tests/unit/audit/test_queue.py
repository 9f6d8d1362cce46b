"""SqsBatchSender: bodies go to the queue ten at a time; what the queue did not take is returned by position (the
buffering sink keeps and retries exactly those), and an unreachable queue returns the rest at once."""

from __future__ import annotations

import pytest

from regiongate.audit.runtime.events import BackgroundAuditSink
from regiongate.audit.runtime.queue import SqsBatchSender


class FakeClient:
    def __init__(self, fail_ids=(), raise_on_call: int | None = None) -> None:
        self.calls: list[list[dict]] = []
        self.fail_ids = set(fail_ids)
        self.raise_on_call = raise_on_call

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        assert QueueUrl == "https://sqs.eu-central-1.amazonaws.com/1/audit"
        self.calls.append(Entries)
        if self.raise_on_call is not None and len(self.calls) == self.raise_on_call:
            raise ConnectionError("queue unreachable")
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries if e["Id"] in self.fail_ids
        ]
        return {"Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in self.fail_ids], "Failed": failed}


def sender(client: FakeClient) -> SqsBatchSender:
    return SqsBatchSender(
        "https://sqs.eu-central-1.amazonaws.com/1/audit", "eu-central-1", client_factory=lambda: client
    )


def test_bodies_go_in_batches_of_ten_in_order():
    client = FakeClient()
    bodies = [f"event-{i}" for i in range(23)]
    assert sender(client)(bodies) == []
    assert [len(call) for call in client.calls] == [10, 10, 3]
    assert [e["MessageBody"] for call in client.calls for e in call] == bodies


def test_entries_the_queue_refused_are_returned_by_their_position_in_the_whole_batch():
    # Entry ids are positions within each chunk of ten: "1" is refused in both chunks, at 1 and at 11.
    assert sender(FakeClient(fail_ids={"1"}))([f"e{i}" for i in range(12)]) == [1, 11]
    assert sender(FakeClient(fail_ids={"2", "9"}))([f"e{i}" for i in range(12)]) == [2, 9]


def test_an_unreachable_queue_returns_the_rest_without_trying_each_chunk():
    client = FakeClient(raise_on_call=2)
    assert sender(client)([f"e{i}" for i in range(35)]) == list(range(10, 35))
    assert len(client.calls) == 2


@pytest.mark.parametrize("fail_ids", [{"0"}, {"0", "1", "2"}])
def test_with_the_buffering_sink_nothing_is_lost(fail_ids):
    client = FakeClient(fail_ids=fail_ids)
    sink = BackgroundAuditSink(sender(client), interval=3600, capacity=10)
    for i in range(3):
        assert sink.admit()
        sink.emit({"request_id": f"r{i}", "status": 200})
        sink.release()
    assert sink.flush() is False  # some were refused: kept for a retry
    assert sink.pending == len(fail_ids)
    client.fail_ids = set()
    assert sink.flush() is True and sink.pending == 0
    sent = [e["MessageBody"] for call in client.calls for e in call]
    assert sorted(set(sent)) == sorted(f'{{"request_id":"r{i}","status":200}}' for i in range(3))  # none lost
    sink.close(timeout=1)
