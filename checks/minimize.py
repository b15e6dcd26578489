"""Shrink a failing scenario line by line (delta debugging, Zeller & Hildebrandt 2002).

A scenario is a deterministic program: the same lines give the same run. So a counterexample
can be made shorter by deleting lines, chunks first and then single lines, keeping each deletion
after which the same invariant still breaks (for an exception, the same exception at the same
place: the violation's ``signature``); then by dropping options from the `cluster` line and
clients that play no part, and by merging runs of `tick` lines and shortening each `tick N`.
The number of replays is bounded, so the result is the same on every machine, and with worker
processes (``jobs``) the same as without: they replay the next candidates ahead, but the
candidates are decided in order, as one process decides them. Each area gives
the runner: scenario text in, the signature of what broke (or None) out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from checks.parallel import ReplayPool
from checks.scenario import ScenarioError

__all__ = ["Oracle", "minimize_lines", "minimize_strict", "drop_no_effect_lines", "REPLAYS_MAX", "shrink_found"]

REPLAYS_MAX = 4_000


class Oracle:
    """Decides whether a candidate still fails as ``signature``, at most ``replays_max`` replays.

    Candidates come in chains: the next one the shrinker would try if this one passes. With a
    ``pool`` (checks/parallel.py ``ReplayPool``) the next few of a chain replay side by side and
    are read in order; the ones after the first that fails are thrown away and not counted, so the
    decisions and the count are those of one process, and so is the counterexample."""

    def __init__(self, runner: Callable[[str], str | None], signature: str,
                 replays_max: int = REPLAYS_MAX, pool: Any = None, defaults: frozenset[str] = frozenset(),
                 long: tuple[int, int] | None = None) -> None:
        self.runner = runner
        self.signature = signature
        self.replays = 0
        self.replays_max = replays_max
        self.pool = pool
        # `cluster` words that name an option's default: the run is the same without them, so
        # dropping one is not worth a replay.
        self.defaults = defaults
        # Every answer so far, by text (a replay is deterministic): those replayed ahead
        # (``prefetch``) are read from here, and a text asked again is not replayed again.
        self.ahead: dict[str, str | None] = {}
        # (steps, replays): see ``extended``.
        self.long_steps, self.long_replays_max = long if long is not None else (None, replays_max)

    def exhausted(self) -> bool:
        return self.replays >= self.replays_max

    def extended(self, steps: int) -> bool:
        """Whether the bound grows to ``long_replays_max``: a run still longer than
        ``long_steps`` when the replays ran out gets that many replays in all, once. The length
        decides, never the time taken, so every machine shrinks alike."""
        if self.long_steps is None or steps <= self.long_steps or self.replays_max >= self.long_replays_max:
            return False
        self.replays_max = self.long_replays_max
        return True

    def signature_of(self, text: str) -> str | None:
        try:
            return self.runner(text)
        except ScenarioError:
            return None

    def prefetch(self, candidates: list[tuple[str, list[str]]]) -> None:
        """Replay these side by side now (as many as there are workers), for ``first_failing`` to
        read later if it asks: the candidates likely to come next, replayed beside one that must
        be decided alone. Nothing is counted until it is read."""
        if self.pool is not None:
            texts = ["\n".join([header, *steps]) for header, steps in candidates[:self.pool.jobs]]
            self.ahead.update(zip(texts, self.pool.answers(texts)))

    def _answers(self, texts: list[str]) -> list[str | None]:
        unknown = list(dict.fromkeys(text for text in texts if text not in self.ahead))
        if len(unknown) > 1:
            self.ahead.update(zip(unknown, self.pool.answers(unknown)))
        elif unknown:
            self.ahead[unknown[0]] = self.signature_of(unknown[0])
        return [self.ahead[text] for text in texts]

    def fails(self, header: str, steps: list[str]) -> bool:
        return self.first_failing([(header, steps)]) == 0

    def first_failing(self, chain: list[tuple[str, list[str]]]) -> int | None:
        """The position in ``chain`` (header, steps) of the first candidate that still fails, or
        None: what asking ``fails`` of each in turn would answer, with as many replays counted."""
        position = 0
        while position < len(chain) and not self.exhausted():
            width = min(self.pool.jobs if self.pool is not None else 1, self.replays_max - self.replays)
            batch = ["\n".join([header, *steps]) for header, steps in chain[position:position + width]]
            answers = self._answers(batch)
            for offset, answer in enumerate(answers):
                self.replays += 1
                if answer == self.signature:
                    return position + offset
            position += len(batch)
        return None


def _delete_chunks(oracle: Oracle, header: str, steps: list[str]) -> list[str]:
    chunk = max(1, len(steps) // 2)
    while chunk >= 1 and not oracle.exhausted():
        index = 0
        while index < len(steps) and not oracle.exhausted():
            starts = range(index, len(steps), chunk)  # where the next deletions start, each failing
            hit = oracle.first_failing([(header, steps[:start] + steps[start + chunk:]) for start in starts])
            if hit is None:
                break
            index = starts[hit]
            steps = steps[:index] + steps[index + chunk:]
        chunk //= 2
    return steps


def _simplify_header(oracle: Oracle, header: str, steps: list[str]) -> str:
    words = header.split()
    options = [word for word in words[2:] if not word.startswith("seed=") and word not in oracle.defaults]
    while options:
        chain = [[w for w in words if w != word] for word in options]
        hit = oracle.first_failing([(" ".join(candidate), steps) for candidate in chain])
        if hit is None:
            break
        words, options = chain[hit], options[hit + 1:]
    return " ".join(words)


def _ticks(step: str) -> int | None:
    words = step.split()
    return int(words[1]) if len(words) == 2 and words[0] == "tick" and words[1].isdigit() else None


def _shorten_ticks(oracle: Oracle, header: str, steps: list[str]) -> list[str]:
    """`tick N` as few ticks as still fail: halving, then one less at a time."""
    index = 0
    while index < len(steps):
        tries = [(at, fewer) for at in range(index, len(steps)) if (ticks := _ticks(steps[at])) is not None
                 for fewer in sorted({ticks // 2, ticks - 1} - {0, ticks})]
        hit = oracle.first_failing([(header, steps[:at] + [f"tick {fewer}"] + steps[at + 1:]) for at, fewer in tries])
        if hit is None:
            break
        at, fewer = tries[hit]
        steps = steps[:at] + [f"tick {fewer}"] + steps[at + 1:]
        index = at + 1
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
    # Beside the replay that checks the run fails again, the first deletion (its first half).
    oracle.prefetch([(header, steps), (header, steps[max(1, len(steps) // 2):])])
    if not oracle.fails(header, steps):
        return lines  # not reproducible from its lines alone: keep it as it is
    header, steps = _to_fixpoint(oracle, header, steps)
    while oracle.exhausted() and oracle.extended(len(steps)):
        header, steps = _to_fixpoint(oracle, header, steps)
    return [header, *steps]


def _to_fixpoint(oracle: Oracle, header: str, steps: list[str]) -> tuple[str, list[str]]:
    while not oracle.exhausted():  # to a fixpoint: one deletion can enable another
        before = (header, steps)
        header, steps = _drop_clients(oracle, header, steps)  # clients that play no part
        header = _simplify_header(oracle, header, steps)  # fewer random faults: steps shrink better
        steps = _delete_chunks(oracle, header, steps)
        steps = _shorten_ticks(oracle, header, _merge_ticks(oracle, header, steps))
        if (header, steps) == before:
            break
    return header, steps


def drop_no_effect_lines(lines: list[str], oracle: Oracle) -> list[str]:
    """Delete the lines a lenient replay marked `maybe` (they found nothing to do once others were
    gone) where the run still fails without them; the rest stay, marked, so the file replays."""
    header, steps = lines[0], list(lines[1:])
    index = len(steps) - 1
    while index >= 0 and not oracle.exhausted():
        marked = [at for at in range(index, -1, -1) if steps[at].startswith("maybe ")]  # last first
        hit = oracle.first_failing([(header, steps[:at] + steps[at + 1:]) for at in marked])
        if hit is None:
            break
        index = marked[hit]
        steps = steps[:index] + steps[index + 1:]
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


def shrink_found(found: Any, violation: Any, replay: Callable[[str], Any], replays_max: int,
                 jobs: int = 1, defaults: frozenset[str] = frozenset(),
                 long: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """A failing run shrunk as scenario lines, for any area whose ``replay(text)`` runs a scenario
    leniently and returns an outcome with ``violation`` and ``cluster``: (the shrunk run's
    harness, its violation), or the run as found if the shrunk lines no longer fail. ``found``
    needs only its ``lines``. With ``jobs`` above 1 the candidates replay in that many worker
    processes, with the same result. ``defaults``: `cluster` words not worth a replay (Oracle).
    ``long``: (steps, replays): a run still longer than that many steps when ``replays_max`` ran
    out may take that many replays in all (``Oracle.extended``)."""
    def runner(text: str) -> str | None:
        broken = replay(text).violation
        return broken.signature if broken is not None else None

    marked: list[Any] = []  # the outcome of replaying the shrunk lines, which marks them

    def replay_marked(lines: list[str]) -> list[str]:
        marked.append(replay("\n".join(lines)))
        return marked[-1].cluster.lines
    oracle = Oracle(runner, violation.signature, replays_max, defaults=defaults, long=long)
    with contextlib.ExitStack() as stack:
        if jobs > 1:
            oracle.pool = stack.enter_context(ReplayPool(jobs, oracle.signature_of))
        lines = minimize_strict(list(found.lines), oracle, replay_marked)
    # No marked line dropped: the lines are that replay's own, and replaying them runs it again.
    outcome = marked[-1] if marked and marked[-1].cluster.lines == lines else replay("\n".join(lines))
    if outcome.violation is None:
        return found, violation
    return outcome.cluster, outcome.violation
