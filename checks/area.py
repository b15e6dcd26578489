"""What every checked area provides to ``kinv check`` and ``kinv replay``, and the registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import attrs

from impl.catalog import Bug

__all__ = [
    "AREA_NAMES", "CheckRequest", "CheckResult", "Area", "InputError", "load_area",
    "implemented_areas", "default_report_dir",
]

# Every area named by DESIGN.md, in the order `kinv check` runs them; each maps to the module
# whose AREA attribute implements it. Areas not written yet are absent from the map.
AREA_NAMES: tuple[str, ...] = ("raft", "etcd", "apiserver", "controllers", "rbac")
_AREA_MODULES: dict[str, str] = {"raft": "checks.raft.area", "etcd": "checks.etcd.area",
                                  "apiserver": "checks.apiserver.area", "rbac": "checks.rbac.area",
                                  "controllers": "checks.controllers.area"}


class InputError(Exception):
    """Bad user input (flag, scenario line, manifest): one line, exit code 2, nothing changed."""


ProgressCallback = Callable[[int, float], None]  # (examples so far, seconds so far)


@attrs.frozen
class CheckRequest:
    bug: Bug | None
    budget_seconds: float
    seed: int
    report_dir: Path | None  # None: the default folder under reports/
    progress: ProgressCallback | None = None
    controller: str = ""  # controllers: the user's reconciler, MODULE:CLASS (--controller)
    manifests: tuple[dict, ...] = ()  # controllers: the user's objects, applied at the start (-f)


@attrs.frozen
class CheckResult:
    area: str
    bug: str | None
    result: str  # "held" | "violated"
    invariant: str | None
    examples: int
    steps: int | None
    seconds: float
    seed: int | None
    report: str | None
    note: str | None = None  # e.g. an unmet `expect` line; shown on stderr, not part of --json
    # What happened to the messages of the run replayed (a replay, or a check's counterexample):
    # {"sent"|"delivered"|"dropped"|"rejected": {kind: count}}; None where nothing was replayed.
    messages: dict | None = None
    trace: tuple[str, ...] = ()  # the numbered trace of a replay, for `kinv replay --trace`; not in --json

    def as_json(self) -> dict:
        return attrs.asdict(self, filter=lambda field, _: field.name not in ("note", "trace"))


class Area(Protocol):
    name: str

    def check(self, request: CheckRequest) -> CheckResult: ...

    def replay(self, text: str, filename: str, bug: Bug | None, report_dir: Path | None) -> CheckResult: ...


def implemented_areas() -> list[str]:
    return [name for name in AREA_NAMES if name in _AREA_MODULES]


def load_area(name: str) -> Area:
    if name not in AREA_NAMES:
        raise InputError(f"unknown area {name!r}; areas are {', '.join(AREA_NAMES)}")
    if name not in _AREA_MODULES:
        raise InputError(f"area {name!r} is not implemented yet; implemented: {', '.join(implemented_areas())}")
    return importlib.import_module(_AREA_MODULES[name]).AREA


def default_report_dir(area: str, bug: Bug | None, seed: int | None) -> Path:
    label = bug.name if bug is not None else "reference"
    suffix = f"-{seed}" if seed is not None else ""
    return Path("reports") / f"{area}-{label}{suffix}"
