"""The settings copier with the most common operator bug: clean-up done on an *event*.

This variant removes a namespace's copy only when it sees the namespace's label go, in an update
event whose old object had the label and whose new one does not (``observe``). Everything else is
the correct operator's. When that event is never seen (the operator was down, or restarted and
relisted, so its fresh cache never held the old object) the copy stays forever: the leak Sieve
calls an unobserved state, and the reason controller-runtime hands ``Reconcile`` a name, not an
event."""

from __future__ import annotations

from examples.settings_copier import SettingsCopier

__all__ = ["EdgeTriggeredSettingsCopier"]


class EdgeTriggeredSettingsCopier(SettingsCopier):
    name = "settings-copier-edge-triggered"

    def __init__(self) -> None:
        self.opted_out: set[str] = set()  # namespaces seen losing the label, in memory only

    def observe(self, resource: str, change: str, old, new) -> None:
        if resource == "namespaces" and change == "update" and self.opted_in(old) and not self.opted_in(new):
            self.opted_out.add(new["metadata"]["name"])

    def wanted_copy(self, namespace: str, cache):
        wanted = super().wanted_copy(namespace, cache)
        if wanted is None and namespace not in self.opted_out:
            current = cache.get("configmaps", namespace, "settings")
            return current  # "nothing happened to it": keep whatever is there
        self.opted_out.discard(namespace)
        return wanted
