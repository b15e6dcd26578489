"""What happened to the messages of a run, by kind: how many were sent, delivered, dropped
(lost, partitioned, to a crashed receiver, or dropped by hand) and how many answers refused a
request (a reply with ``reject`` set: a vote not granted, an AppendEntries that did not match)."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["MessageCounts", "message_kind"]

OUTCOMES = ("sent", "delivered", "dropped", "rejected")


def message_kind(message: Any) -> str:
    return getattr(message, "kind", None) or type(message).__name__


class MessageCounts:
    def __init__(self) -> None:
        self.by_outcome: dict[str, Counter] = {outcome: Counter() for outcome in OUTCOMES}

    def count(self, outcome: str, message: Any) -> None:
        self.by_outcome[outcome][message_kind(message)] += 1

    def sent(self, message: Any) -> None:
        self.count("sent", message)
        if getattr(message, "reject", False) is True:
            self.count("rejected", message)

    def as_json(self) -> dict[str, dict[str, int]]:
        return {outcome: dict(sorted(counter.items())) for outcome, counter in self.by_outcome.items()}
