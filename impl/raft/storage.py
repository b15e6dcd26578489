"""Where a Raft node keeps currentTerm, votedFor and its log on the simulated disk."""

from __future__ import annotations

from impl.raft.messages import Entry
from impl.sim.disk import Disk

__all__ = ["TERM_KEY", "VOTE_KEY", "LOG_LAST_KEY", "entry_key", "recover", "durable_log"]

TERM_KEY = "raft/term"
VOTE_KEY = "raft/vote"
LOG_LAST_KEY = "raft/log/last"


def entry_key(index: int) -> str:
    return f"raft/log/{index:08d}"


def _read_log(read, last: int) -> list[Entry]:
    entries: list[Entry] = []
    for index in range(1, last + 1):
        entry = read(entry_key(index))
        if entry is None:  # a torn write: keep the prefix that is whole
            break
        entries.append(entry)
    return entries


def recover(disk: Disk) -> tuple[int, str | None, list[Entry]]:
    """The hard state and log a restarting node finds: only what was synced before the crash."""
    return disk.read(TERM_KEY, 0), disk.read(VOTE_KEY), _read_log(disk.read, disk.read(LOG_LAST_KEY, 0))


def durable_log(disk: Disk) -> list[Entry]:
    """The log that would survive a crash right now."""
    return _read_log(disk.durable, disk.durable(LOG_LAST_KEY, 0))
