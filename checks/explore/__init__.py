"""`kinv explore`: the bounded exhaustive search (engine.py) run over an area's configurations
one after another, sharing the budget, with the same report folder as `kinv check`; with
``jobs`` > 1 the configurations are shared by worker processes, with the same answer (workers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

from checks.explore.engine import ExploreOutcome, Model, explore_levels
from impl.catalog import Bug

__all__ = ["ExploreRequest", "ExploreResult", "ProfileResult", "explore_profiles"]


@attrs.frozen
class ExploreRequest:
    bug: Bug | None
    depth_max: int
    budget_seconds: float
    report_dir: Path | None
    progress: Callable[[str], None] | None = None  # one line a level, for the user
    jobs: int = 1  # worker processes that share the configurations (1: this process explores them all)


@attrs.frozen
class ProfileResult:
    """One configuration explored: how deep, how many states, how fast, and whether the bounds
    left nothing more to explore (``exhausted``)."""

    cluster: str
    depth: int
    states: int
    transitions: int
    seconds: float
    exhausted: bool
    invariant: str | None

    @property
    def states_per_second(self) -> float:
        return round(self.states / self.seconds, 1) if self.seconds > 0 else 0.0

    def as_json(self) -> dict:
        return {**attrs.asdict(self), "states_per_second": self.states_per_second}


@attrs.frozen
class ExploreResult:
    area: str
    bug: str | None
    result: str  # "held" | "violated"
    invariant: str | None
    steps: int | None  # moves of the counterexample: a shortest one
    seconds: float  # wall clock (with several workers, less than the profiles' seconds added up)
    report: str | None
    profiles: tuple[ProfileResult, ...]

    @property
    def states(self) -> int:
        return sum(p.states for p in self.profiles)

    def as_json(self) -> dict:
        return {"area": self.area, "bug": self.bug, "result": self.result, "invariant": self.invariant,
                "steps": self.steps, "states": self.states,
                "states_per_second": round(self.states / self.seconds, 1) if self.seconds else 0.0,
                "depth": min((p.depth for p in self.profiles), default=0), "seconds": self.seconds,
                "report": self.report, "profiles": [p.as_json() for p in self.profiles]}


def explore_profiles(profiles: list[tuple[str, Model]], request: ExploreRequest,
                     ) -> tuple[list[ProfileResult], ExploreOutcome | None]:
    """Explore every (cluster line, model) level by level in turn (engine.explore_levels), in
    ``request.jobs`` processes, and return each one's figures and the violation found, if any: a
    shortest one across them, the one of the lowest model among equals."""
    def progress(index: int, depth: int, states: int, seconds: float) -> None:
        if request.progress is not None:
            request.progress(f"{profiles[index][0]}: depth {depth} explored, {states} states, {seconds:.0f}s")
    outcomes = explore_levels([model for _, model in profiles], request.depth_max, request.budget_seconds,
                              progress=progress, jobs=request.jobs)
    results = [ProfileResult(cluster, outcome.depth, outcome.states, outcome.transitions, round(outcome.seconds, 1),
                             outcome.exhausted, outcome.violation.invariant.id if outcome.violation else None)
               for (cluster, _), outcome in zip(profiles, outcomes)]
    return results, next((outcome for outcome in outcomes if outcome.violation is not None), None)
