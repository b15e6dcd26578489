"""The bug catalog: named, small variants of the reference, gathered from every area's bugs.py."""

from __future__ import annotations

import importlib
from typing import Any

import attrs

__all__ = ["Bug", "BUG_MODULES", "all_bugs", "bug_by_name", "UnknownBug"]

# One bugs.py beside the code each changes; each exposes BUGS, a tuple of Bug.
BUG_MODULES: tuple[str, ...] = ("impl.raft.bugs", "impl.etcd.bugs", "impl.apiserver.authz.bugs",
                                 "impl.apiserver.bugs", "impl.controllers.bugs")


class UnknownBug(KeyError):
    pass


@attrs.frozen
class Bug:
    """A named variant of the reference.

    ``override`` is what replaces the reference piece (a subclass of the reference class, as a
    rule); the area that runs the bug knows how to plug it in. ``invariant`` is the id of the
    invariant the suite is expected to report; ``source`` is where the bug happened for real.
    """

    name: str
    area: str
    invariant: str
    summary: str
    source: str
    override: Any = attrs.field(eq=False, repr=False)


def all_bugs(area: str | None = None) -> list[Bug]:
    found: list[Bug] = []
    for module_name in BUG_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as missing:
            if missing.name is None or not module_name.startswith(missing.name):
                raise
            continue  # an area not written yet
        found.extend(module.BUGS)
    return sorted((b for b in found if area is None or b.area == area), key=lambda b: (b.area, b.name))


def bug_by_name(name: str) -> Bug:
    for bug in all_bugs():
        if bug.name == name:
            return bug
    raise UnknownBug(name)
