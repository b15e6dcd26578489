"""The trace recorder: every send, delivery, drop, crash, restart, role change, commit and apply."""

from __future__ import annotations

import attrs

__all__ = ["TraceEvent", "TraceRecorder"]

TRACE_EVENTS_MAX = 200_000  # a bound on memory for very long runs; older events are discarded


@attrs.frozen
class TraceEvent:
    tick: int
    kind: str  # send | deliver | drop | duplicate | crash | restart | role | commit | apply | propose | partition | heal | step
    node: str | None
    detail: str
    peer: str | None = None  # the receiver of a send, deliver or drop

    def line(self) -> str:
        who = self.node or "-"
        if self.peer is not None:
            who = f"{self.node}->{self.peer}"
        return f"t={self.tick:<4} {self.kind:<9} {who:<8} {self.detail}"


class TraceRecorder:
    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.dropped_events = 0

    def record(self, tick: int, kind: str, node: str | None, detail: str, peer: str | None = None) -> None:
        if len(self.events) >= TRACE_EVENTS_MAX:
            del self.events[: TRACE_EVENTS_MAX // 2]
            self.dropped_events += TRACE_EVENTS_MAX // 2
        self.events.append(TraceEvent(tick, kind, node, detail, peer))
