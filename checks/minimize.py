"""Shrink a failing scenario line by line (delta debugging, Zeller & Hildebrandt 2002).

A scenario is a deterministic program: the same lines give the same run. So a counterexample
can be made shorter by deleting lines, chunks first and then single lines, keeping each deletion
after which the same invariant still breaks (for an exception, the same exception at the same
place: the violation's ``signature``); then by dropping options from the `cluster` line and
clients that play no part, and by merging runs of `tick` lines and shortening each `tick N`.
The number of replays is bounded, so the result is the same on every machine. Each area gives
the runner: scenario text in, the signature of what broke (or None) out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checks.scenario import ScenarioError

__all__ = ["Oracle", "minimize_lines", "minimize_strict", "drop_no_effect_lines", "REPLAYS_MAX", "shrink_found"]

REPLAYS_MAX = 4_000


class Oracle:
    def __init__(self, runner: Callable[[str], str | None], signature: str,
                 replays_max: int = REPLAYS_MAX) -> None:
        self.runner = runner
        self.signature = signature
        self.replays = 0
        self.replays_max = replays_max

    def exhausted(self) -> bool:
        return self.replays >= self.replays_max

    def fails(self, header: str, steps: list[str]) -> bool:
        if self.exhausted():
            return False
        self.replays += 1
        try:
            return self.runner("\n".join([header, *steps])) == self.signature
        except ScenarioError:
            return False


def _delete_chunks(oracle: Oracle, header: str, steps: list[str]) -> list[str]:
    chunk = max(1, len(steps) // 2)
    while chunk >= 1 and not oracle.exhausted():
        index = 0
        while index < len(steps) and not oracle.exhausted():
            candidate = steps[:index] + steps[index + chunk:]
            if candidate != steps and oracle.fails(header, candidate):
                steps = candidate
            else:
                index += chunk
        chunk //= 2
    return steps


def _simplify_header(oracle: Oracle, header: str, steps: list[str]) -> str:
    words = header.split()
    for word in list(words[2:]):
        if word.startswith("seed="):
            continue
        candidate = [w for w in words if w != word]
        if oracle.fails(" ".join(candidate), steps):
            words = candidate
    return " ".join(words)


def _ticks(step: str) -> int | None:
    words = step.split()
    return int(words[1]) if len(words) == 2 and words[0] == "tick" and words[1].isdigit() else None


def _shorten_ticks(oracle: Oracle, header: str, steps: list[str]) -> list[str]:
    """`tick N` as few ticks as still fail: halving, then one less at a time."""
    for index, step in enumerate(steps):
        ticks = _ticks(step)
        if ticks is None:
            continue
        for fewer in sorted({ticks // 2, ticks - 1} - {0, ticks}):
            candidate = steps[:index] + [f"tick {fewer}"] + steps[index + 1:]
            if oracle.fails(header, candidate):
                steps, ticks = candidate, fewer
                break
    return steps


def _merge_ticks(oracle: Oracle, header: str, steps: list[str]) -> list[str]:
    """A run of `tick` lines as one `tick N` (a search ticks a step at a time; a reader wants
    the wait as one line), where the run still fails: checks run between lines, so it may not."""
    index = 0
    while index < len(steps) and not oracle.exhausted():
        end = index
        while end < len(steps) and _ticks(steps[end]) is not None:
            end += 1
        if end - index >= 2:
            merged = f"tick {sum(_ticks(step) for step in steps[index:end])}"
            candidate = steps[:index] + [merged] + steps[end:]
            if oracle.fails(header, candidate):
                steps = candidate
        index = max(end, index + 1)
    return steps


def _without_client(header: str, steps: list[str]) -> tuple[str, list[str]] | None:
    """The scenario with its last client gone (`clients=K` one less, its lines and mentions too)."""
    words = header.split()
    counts = [w for w in words if w.startswith("clients=") and w[8:].isdigit() and int(w[8:]) > 1]
    if not counts:
        return None
    last = int(counts[0][8:])
    gone = f"c{last}"
    header = " ".join(f"clients={last - 1}" if w == counts[0] else w for w in words)
    kept = [" ".join(w for w in step.split() if w != gone) for step in steps if step.split()[0] != gone]
    return header, kept


def _drop_clients(oracle: Oracle, header: str, steps: list[str]) -> tuple[str, list[str]]:
    while (fewer := _without_client(header, steps)) is not None and oracle.fails(*fewer):
        header, steps = fewer
    return header, steps


def minimize_lines(lines: list[str], oracle: Oracle) -> list[str]:
    """``lines`` is a whole failing scenario (the `cluster` line first); returns a shorter one."""
    header, steps = lines[0], list(lines[1:])
    if not oracle.fails(header, steps):
        return lines  # not reproducible from its lines alone: keep it as it is
    while not oracle.exhausted():  # to a fixpoint: one deletion can enable another
        before = (header, steps)
        header, steps = _drop_clients(oracle, header, steps)  # clients that play no part
        header = _simplify_header(oracle, header, steps)  # fewer random faults: steps shrink better
        steps = _delete_chunks(oracle, header, steps)
        steps = _shorten_ticks(oracle, header, _merge_ticks(oracle, header, steps))
        if (header, steps) == before:
            break
    return [header, *steps]


def drop_no_effect_lines(lines: list[str], oracle: Oracle) -> list[str]:
    """Delete the lines a lenient replay marked `maybe` (they found nothing to do once others were
    gone) where the run still fails without them; the rest stay, marked, so the file replays."""
    header, steps = lines[0], list(lines[1:])
    index = len(steps) - 1
    while index >= 0 and not oracle.exhausted():
        if steps[index].startswith("maybe "):
            candidate = steps[:index] + steps[index + 1:]
            if oracle.fails(header, candidate):
                steps = candidate
        index -= 1
    return [header, *steps]


def minimize_strict(lines: list[str], oracle: Oracle, replay_marked: Callable[[list[str]], list[str]]) -> list[str]:
    """A shorter scenario that replays strictly. The oracle's replays are lenient: deleting a line
    can leave a later one with nothing to do. So shrink the lines without their `maybe` marks
    (the shrinker reads a line's command from its first word), replay the result leniently
    (``replay_marked`` returns the lines it recorded, marked again where they found nothing to
    do), then delete the marked lines the failure does not need."""
    shorter = minimize_lines([line.removeprefix("maybe ") for line in lines], oracle)
    return drop_no_effect_lines(replay_marked(shorter), oracle)


def shrink_found(found: Any, violation: Any, replay: Callable[[str], Any], replays_max: int) -> tuple[Any, Any]:
    """A failing run shrunk as scenario lines, for any area whose ``replay(text)`` runs a scenario
    leniently and returns an outcome with ``violation`` and ``cluster``: (the shrunk run's
    harness, its violation), or the run as found if the shrunk lines no longer fail."""
    def runner(text: str) -> str | None:
        broken = replay(text).violation
        return broken.signature if broken is not None else None

    def replay_marked(lines: list[str]) -> list[str]:
        return replay("\n".join(lines)).cluster.lines
    lines = minimize_strict(found.lines, Oracle(runner, violation.signature, replays_max), replay_marked)
    outcome = replay("\n".join(lines))
    if outcome.violation is None:
        return found, violation
    return outcome.cluster, outcome.violation
