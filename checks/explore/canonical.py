"""States as plain values, and one name for every state that differs only in which server is
which (symmetry reduction, as TLC's SYMMETRY and Murphi's scalarsets).

``freeze`` turns any state (objects, dicts, lists, sets) into nested tuples, frozensets and
atoms; unordered collections become frozensets, so two runs that reach the same state in a
different order freeze to equal values. ``Canonical`` then renames the server ids in it under
every permutation that could matter and keeps the smallest name: servers are interchangeable
in the protocol, so states equal up to renaming have the same futures up to renaming, and
exploring one of them is enough. Which of the equal states names the class may differ from one
process to the next (string hashes are salted), but the classes, and so every state the
explorer visits and every answer it gives, do not.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any

import attrs

__all__ = ["freeze", "rename", "Canonical", "render"]

FREEZE_DEPTH_MAX = 50
RENAMED_MAX = 200_000  # renamed server states kept for reuse


def freeze(value: Any, ignored: frozenset[str] = frozenset(), atoms: tuple[type, ...] = (),
           depth: int = 0) -> Hashable:
    """A plain, hashable copy of ``value``. Attributes named in ``ignored`` are left out of every
    object (clocks, caches, random generators: what does not decide the future of the state).
    Instances of ``atoms`` (immutable, hashable values that name no server) are kept as they are."""
    assert depth < FREEZE_DEPTH_MAX, "state nested too deep to freeze"
    if value is None or isinstance(value, (bool, int, float, str, bytes, *atoms)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(freeze(item, ignored, atoms, depth + 1) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(item, ignored, atoms, depth + 1) for item in value)
    if isinstance(value, dict):
        return frozenset((freeze(k, ignored, atoms, depth + 1), freeze(v, ignored, atoms, depth + 1))
                         for k, v in value.items())
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        return (type(value).__name__,) + tuple(freeze(getattr(value, f.name), ignored, atoms, depth + 1)
                                               for f in fields if f.name not in ignored)
    if hasattr(value, "__dict__"):  # attributes in name order; the names themselves add nothing
        items = sorted((k, v) for k, v in vars(value).items() if k not in ignored)
        return (type(value).__name__,) + tuple(freeze(v, ignored, atoms, depth + 1) for _, v in items)
    raise TypeError(f"cannot freeze a {type(value).__name__}")


def rename(value: Hashable, names: dict[str, str]) -> Hashable:
    """``value`` with every string that is a key of ``names`` replaced by its value."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, tuple):
        return tuple(rename(item, names) for item in value)
    if isinstance(value, frozenset):
        return frozenset(rename(item, names) for item in value)
    return value


@attrs.frozen
class Canonical:
    """Names states up to a renaming of ``node_ids`` (all of them interchangeable).

    A name is 128 bits from two of Python's hashes of the renamed value. Equal states always get
    equal names; two different states share one with a chance of about n**2 / 2**128 among n
    states (TLC's fingerprints take the same bet with 64)."""

    node_ids: tuple[str, ...]
    symmetric: bool = True
    # A server's state is the same object in a state and its children when a move did not touch
    # it, and it is often renamed the same way: keep the renamed copies (keyed by object and
    # renaming, with the object itself so that its id cannot be reused).
    _renamed: dict = attrs.field(factory=dict, init=False, eq=False, repr=False)

    def _rename_node(self, state: Hashable, names: dict[str, str]) -> Hashable:
        key = (id(state), tuple(sorted(names.items())))
        found = self._renamed.get(key)
        if found is None:
            if len(self._renamed) >= RENAMED_MAX:
                self._renamed.clear()
            found = self._renamed[key] = (state, rename(state, names))
        return found[1]

    def renamings(self, signatures: dict[str, Hashable]) -> list[dict[str, str]]:
        """The renamings worth trying. ``signatures`` says what each server holds in terms no
        renaming changes (its role, term, log...); servers sorted by it are renamed to the ids in
        order, and only servers with equal signatures can trade names."""
        if not self.symmetric:
            return [{}]
        order = sorted(self.node_ids, key=lambda node: (hash(signatures[node]), node))
        groups = [list(group) for _, group in itertools.groupby(order, key=lambda node: hash(signatures[node]))]
        found = []
        for choice in itertools.product(*(itertools.permutations(group) for group in groups)):
            flat = [node for group in choice for node in group]
            found.append({old: new for old, new in zip(flat, self.node_ids) if old != new})
        return found

    def name(self, per_node: dict[str, tuple[Hashable, Hashable]], shared: Hashable) -> tuple[tuple[int, int],
                                                                                               dict[str, str]]:
        """The smallest name over the renamings, and the renaming that gives it. ``per_node`` maps
        each server to (its signature, its own state); ``shared`` is the rest (network, ghost)."""
        best, best_names = None, {}
        states = {node: state for node, (_, state) in per_node.items()}
        for names in self.renamings({node: signature for node, (signature, _) in per_node.items()}):
            if names:
                value = (frozenset((names.get(n, n), self._rename_node(state, names)) for n, state in states.items()),
                         rename(shared, names))
            else:
                value = (frozenset(states.items()), shared)
            name = (hash(value), hash((value, 1)))
            if best is None or name < best:
                best, best_names = name, names
        return best, best_names


def render(value: Hashable, names: dict[str, str] | None = None) -> str:
    """A deterministic text of a frozen value, with server ids renamed by ``names``."""
    if isinstance(value, str):
        return repr(names.get(value, value) if names else value)
    if isinstance(value, tuple):
        return "(" + ",".join(render(item, names) for item in value) + ")"
    if isinstance(value, frozenset):
        return "{" + ",".join(sorted(render(item, names) for item in value)) + "}"
    return repr(value)
