"""The key-value store's specification: the sequential models a linearizability checker replays
(``spec.kv.model``), the watch guarantees as predicates (``spec.kv.watch``) and the store's
invariants (``spec.kv.invariants``), each broken by a bug in impl/etcd/bugs.py.
"""

from spec.kv.invariants import INVARIANTS

__all__ = ["INVARIANTS"]
