"""A bounded exhaustive search over the same scenario commands and the same code the random
search runs: breadth first, so the first counterexample found is a shortest one.

- **State hashing**: every state reached is named by a digest of its plain value (servers,
  network, the invariants' ghost history); a state already seen is not explored again.
- **Symmetry reduction**: states equal up to renaming servers share one name (canonical.py).
- **Partial-order reduction** with sleep sets (Godefroid 1996): moves on different servers
  commute (each changes only its own servers and adds messages; the invariants' ghost history
  grows by what each server did, a union that does not depend on the order). After exploring
  move ``a`` then ``b`` from a state, the explorer does not explore ``a`` again after ``b``: both
  orders reach the same state. Sleep sets never lose a reachable state, only redundant
  transitions.

Several models (an area's configurations) are explored level by level in turn, so the first
counterexample is a shortest one across all of them; with ``jobs`` > 1 each of several worker
processes explores its share of the models that way, and the parent picks the same answer
(workers.py). An area gives each ``Model``: its initial
state, the moves enabled in a state (scenario lines), how to play one on a copy, and the plain
value of a state.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol

import attrs

from checks.budget import Budget
from checks.explore.canonical import Canonical, rename
from checks.violation import InvariantViolated

__all__ = ["Move", "Model", "Played", "ExploreOutcome", "explore_levels", "Split"]

# For each server: (a signature that names no server, its own state); and the shared rest.
Split = tuple[dict[str, tuple[Hashable, Hashable]], Hashable]


@attrs.frozen
class Move:
    line: str  # the scenario line that plays it
    nodes: frozenset[str]  # the servers (or shared budgets) whose state it reads or changes
    label: Hashable  # the same transition in another state: what it does, not where it sits in a queue


@attrs.frozen
class Played:
    state: Any
    violation: InvariantViolated | None


class Model(Protocol):
    node_ids: tuple[str, ...]

    def initial(self) -> Any: ...

    def moves(self, state: Any) -> list[Move]: ...

    def copy_source(self, state: Any) -> Any:
        """What ``play`` copies from: computed once for all moves from ``state``."""
        ...

    def play(self, state: Any, move: Move, source: Any) -> Played: ...

    def split(self, state: Any, parent: Split | None = None, changed: frozenset[str] = frozenset()) -> Split:
        """The plain value of a state. With ``parent``, the split of the state a move ``changed``
        some servers of: the others are taken from it as they are."""
        ...


@attrs.frozen
class _Node:
    """A state waiting in the frontier, with what is known of it."""

    state: Any
    split: Split
    asleep: frozenset[tuple[Hashable, frozenset[str]]]  # (label, nodes) of moves not to play from it


@attrs.frozen
class ExploreOutcome:
    states: int  # distinct states (up to symmetry)
    transitions: int  # moves played
    depth: int  # the deepest level explored completely
    seconds: float
    exhausted: bool  # nothing was left to explore within the bounds
    violation: InvariantViolated | None = None
    state: Any = None  # the violating state (its scenario lines lead there)


class _Search:
    """One model's breadth-first search, a level at a time."""

    def __init__(self, model: Model, symmetric: bool, sleep_sets: bool) -> None:
        self.model = model
        self.sleep_sets = sleep_sets
        self.canonical = Canonical(model.node_ids, symmetric)
        self.visited: dict[tuple[int, int], frozenset[Hashable]] = {}  # name -> labels asleep when explored
        self.transitions = 0
        self.depth = 0
        self.seconds = 0.0
        initial = model.initial()
        first = _Node(initial, model.split(initial), frozenset())
        self._admit(first)
        self.level: list[_Node] = [first]
        self.next_level: list[_Node] = []
        self.position = 0  # states of ``level`` expanded so far

    def _admit(self, node: _Node) -> bool:
        """Record a state; True if it must be (re-)expanded: new, or reached with fewer moves asleep."""
        name, names = self.canonical.name(*node.split)
        key = frozenset(rename(label, names) for label, _ in node.asleep)
        before = self.visited.get(name)
        if before is not None and before <= key:
            return False
        self.visited[name] = key if before is None else before & key
        return True

    def expand_next(self) -> Played | None:
        """Expand one state of the current level; a violation if a move led to one."""
        node = self.level[self.position]
        self.position += 1
        source = self.model.copy_source(node.state)
        explored: list[tuple[Hashable, frozenset[str]]] = []
        asleep = {label for label, _ in node.asleep}
        for move in self.model.moves(node.state):
            if move.label in asleep:
                continue
            played = self.model.play(node.state, move, source)
            self.transitions += 1
            if played.violation is not None:
                return played
            child_asleep = frozenset(item for item in (*node.asleep, *explored)
                                     if self.sleep_sets and item[1].isdisjoint(move.nodes))
            child = _Node(played.state, self.model.split(played.state, node.split, move.nodes), child_asleep)
            if self._admit(child):
                self.next_level.append(child)
            explored.append((move.label, move.nodes))
        return None

    @property
    def level_done(self) -> bool:
        return self.position >= len(self.level)

    def next(self) -> None:
        self.level, self.next_level, self.position = self.next_level, [], 0
        self.depth += 1

    def outcome(self, found: Played | None = None) -> ExploreOutcome:
        return ExploreOutcome(len(self.visited), self.transitions, self.depth, self.seconds,
                              not self.level and found is None, found.violation if found else None,
                              found.state if found else None)


def explore_levels(models: list[Model], depth_max: int, budget_seconds: float, symmetric: bool = True,
                   sleep_sets: bool = True, progress: Callable[[int, int, int, float], None] | None = None,
                   jobs: int = 1) -> list[ExploreOutcome]:
    """Breadth first in every model at once: level 1 of each, then level 2 of each, ... until a
    violation (the search stops there: it is a shortest one), ``depth_max`` moves, nothing left,
    or the budget. ``progress(model index, depth, states, seconds)`` after each level. Turning
    ``symmetric`` or ``sleep_sets`` off shows what each reduction saves. With ``jobs`` > 1 the
    models are explored in that many worker processes (at most one a model), with the same
    answer (workers.py)."""
    workers = min(jobs, len(models))
    if workers > 1:
        from checks.explore.workers import explore_in_workers

        return explore_in_workers(models, depth_max, budget_seconds, workers, symmetric, sleep_sets, progress)
    budget = Budget(budget_seconds)
    searches = [(index, _Search(model, symmetric, sleep_sets)) for index, model in enumerate(models)]

    def on_level(index: int, search: _Search) -> None:
        if progress is not None:
            progress(index, search.depth, len(search.visited), search.seconds)
    found = _interleave(searches, depth_max, budget, on_level)
    return [search.outcome(found[1] if found is not None and found[0] == index else None)
            for index, search in searches]


def _interleave(searches: list[tuple[int, _Search]], depth_max: int, budget: Budget,
               on_level: Callable[[int, _Search], None]) -> tuple[int, Played] | None:
    """Explore ``searches`` (model index, its search) a level of each in turn, in that order;
    ``on_level`` after each level. Returns (the model's index, the violating move) on the first
    violation, or None when ``depth_max`` levels, nothing left or the budget ended it."""
    for _ in range(depth_max):
        for index, search in searches:
            if not search.level:
                continue
            started = budget.elapsed()
            while not search.level_done:
                if budget.exhausted():
                    search.seconds += budget.elapsed() - started
                    return None
                found = search.expand_next()
                if found is not None:
                    search.seconds += budget.elapsed() - started
                    return index, found
            search.seconds += budget.elapsed() - started
            search.next()
            on_level(index, search)
        if not any(search.level for _, search in searches):
            break
    return None
