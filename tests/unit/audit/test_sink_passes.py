"""BackgroundAuditSink's passes: each hands on what was buffered when it began, in batches of ``batch_size``; what
arrives during a pass waits for the next one (it used to be written at once, in batches of a dozen under load);
``flush`` still hands on everything, and a failed batch stops the pass with its events kept."""

from __future__ import annotations

from regiongate.audit.runtime.events import BackgroundAuditSink


def _event(i: int) -> dict:
    return {"request_id": f"r{i}", "status": 200}


def test_a_pass_hands_on_what_was_due_and_leaves_what_arrived_during_it_for_the_next() -> None:
    batches: list[int] = []
    sink: BackgroundAuditSink

    def write(bodies):
        batches.append(len(bodies))
        if len(batches) == 1:
            for i in range(100, 105):  # requests answered while the first batch is written
                sink.emit(_event(i))
        return []

    sink = BackgroundAuditSink(write, interval=3600, batch_size=20)
    try:
        for i in range(50):
            sink.emit(_event(i))
        assert sink.drain_due() is True
        assert batches == [20, 20, 10] and sink.pending == 5  # not a fourth batch of the 5 newcomers
        assert sink.drain_due() is True
        assert batches == [20, 20, 10, 5] and sink.pending == 0
    finally:
        sink.close(timeout=1)


def test_flush_hands_on_everything_and_a_failed_batch_ends_the_pass_with_its_events_kept() -> None:
    failing = {"on": True}
    batches: list[int] = []

    def write(bodies):
        batches.append(len(bodies))
        return list(range(len(bodies))) if failing["on"] else []

    sink = BackgroundAuditSink(write, interval=3600, batch_size=10)
    try:
        for i in range(25):
            sink.emit(_event(i))
        assert sink.drain_due() is False and batches == [10] and sink.pending == 25
        failing["on"] = False
        assert sink.flush() is True and sink.pending == 0 and batches[1:] == [10, 10, 5]
    finally:
        sink.close(timeout=1)
