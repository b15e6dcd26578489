"""Make a Hypothesis seed name the same test cases whatever else is imported.

Hypothesis (since 6.131) sometimes draws literals it finds in the source of every local module
loaded so far. That makes a seed's test cases depend on which of our modules happen to be
imported (the CLI, a pytest run and a bench import different sets), so the same seed would find
different counterexamples. Our seeds must reproduce runs (DESIGN.md, "Determinism"), so the
searches turn that pool off. Draws from Hypothesis' own global constants are unaffected.
"""

from __future__ import annotations

__all__ = ["without_local_constants"]

_done = False


def without_local_constants() -> None:
    global _done
    if _done:
        return
    _done = True
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without the provider layer
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        empty = providers.Constants()
        providers._get_local_constants = lambda: empty
