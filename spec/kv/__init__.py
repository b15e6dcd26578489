"""The key-value store's specification: the sequential models a linearizability checker replays
(``spec.kv.model``) and, later, the store's invariants.

``INVARIANTS`` stays empty until invariants arrive together with the catalog bugs that break
them (DESIGN.md: "a check that cannot fail is a defect").
"""

__all__ = ["INVARIANTS"]

INVARIANTS: tuple = ()
