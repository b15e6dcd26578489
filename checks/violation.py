"""The error a harness raises when an invariant breaks, shared by every simulated area, and how
an exception raised inside impl/ becomes one (IMPL-EXCEPTION: a finding, not a crash)."""

from __future__ import annotations

import sys
import sysconfig
import traceback
from pathlib import Path

from spec.general import IMPL_EXCEPTION
from spec.invariant import Invariant

__all__ = ["InvariantViolated", "RecordsFindings", "impl_exception", "PROJECT_ROOT"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_IMPL = PROJECT_ROOT / "impl"
_OURS = (PROJECT_ROOT / "impl", PROJECT_ROOT / "checks", PROJECT_ROOT / "spec")


class InvariantViolated(AssertionError):
    """``details`` is extra text for the report (the traceback of an IMPL-EXCEPTION)."""

    def __init__(self, invariant: Invariant, message: str, details: str | None = None,
                 raised_at: str | None = None) -> None:
        super().__init__(f"{invariant.id}: {message}")
        self.invariant = invariant
        self.message = message
        self.details = details
        self.raised_at = raised_at

    def __reduce__(self):
        """Pickled with its fields (an exception pickles only ``args``): `kinv explore --jobs`
        sends a violating state, which holds its violation, from a worker to the parent."""
        return type(self), (self.invariant, self.message, self.details, self.raised_at)

    @property
    def signature(self) -> str:
        """What shrinking must keep: the invariant, and for an exception where it was raised, so
        that a shorter run must fail the same way, not merely with some other exception."""
        return self.invariant.id if self.raised_at is None else f"{self.invariant.id}@{self.raised_at}"


def _inside(path: Path, folder: Path) -> bool:
    return folder == path or folder in path.parents


_INSTALLED = tuple({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"])})


def _user_code(path: Path) -> bool:
    """The code checked that is not ours: a user's controller (``--controller``) outside this
    project, or one of ``examples/``; neither the suite, nor Python and the installed packages."""
    if _inside(path, PROJECT_ROOT):
        return _inside(path, PROJECT_ROOT / "examples")
    return not any(_inside(path, folder) for folder in _INSTALLED) and not path.name.startswith("<")


def _project_frames(error: BaseException) -> list[traceback.FrameSummary]:
    """The frames of the code checked (impl/ and the user's) and of the suite."""
    return [frame for frame in traceback.extract_tb(error.__traceback__)
            if any(_inside(Path(frame.filename).resolve(), ours) for ours in _OURS)
            or _user_code(Path(frame.filename).resolve())]


def _relative(frame: traceback.FrameSummary) -> str:
    path = Path(frame.filename).resolve()
    return path.relative_to(PROJECT_ROOT).as_posix() if _inside(path, PROJECT_ROOT) else path.as_posix()


def impl_exception(error: Exception) -> InvariantViolated | None:
    """The IMPL-EXCEPTION finding for ``error`` if the innermost frame of ours that it passed
    through is in impl/ or in the user's code checked (a stdlib call made from there counts as
    theirs); None if it came from checks/ or spec/: a defect of the suite itself, which must
    crash loudly instead.

    Paths are relative to the project, so the report is the same on every checkout."""
    frames = _project_frames(error)
    innermost = Path(frames[-1].filename).resolve() if frames else None
    if innermost is None or not (_inside(innermost, _IMPL) or _user_code(innermost)):
        return None
    where = frames[-1]
    raised_at = f"{_relative(where)}:{where.lineno}"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    message = f"{type(error).__name__}{': ' + text if text else ''} (raised at {raised_at} in {where.name})"
    details = "\n".join(["Traceback (most recent call last), frames of this project:"]
                        + [f'  {_relative(f)}:{f.lineno} in {f.name}\n    {f.line}' for f in frames]
                        + [f"{type(error).__name__}: {error}"])
    return InvariantViolated(IMPL_EXCEPTION, message, details, raised_at)


class RecordsFindings:
    """For a harness with a ``world`` and a ``violation``: how a finding is recorded, for a broken
    invariant and for an exception out of impl/, so a search and a replay record them alike."""

    world: object
    violation: InvariantViolated | None

    def _found(self, violation: InvariantViolated) -> InvariantViolated:
        self.violation = violation
        self.world.trace.record(self.world.now, "violation", None, f"{violation.invariant.id}: {violation.message}")
        return violation

    def fail(self, invariant: Invariant, message: str) -> None:
        raise self._found(InvariantViolated(invariant, message))

    def exception_raised(self, error: Exception) -> InvariantViolated:
        """The IMPL-EXCEPTION finding for an exception a command raised; re-raises the exception
        itself when it came from checks/ or spec/ (a defect of the suite, not a finding)."""
        violation = impl_exception(error)
        if violation is None:
            raise error
        return self._found(violation)
