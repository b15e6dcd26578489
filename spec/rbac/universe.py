"""The finite universe a policy's requests range over.

RBAC compares request fields with the strings a policy mentions, and nothing else. So the
requests that can be told apart are the ones built from those strings plus, per field, one fresh
value the policy never mentions ("other"): every unmentioned verb behaves like ``other-verb``.
URLs also need, for each URL the policy mentions, one longer path below it, so that "is a prefix
of" has a witness (``/healthz`` vs ``/healthz/other``); a service account subject likewise gets
its namesake in the fresh namespace (``system:serviceaccount:other-ns:NAME``).

The universe reads policies by shape only (spec/ imports nothing from impl/): roles with
``kind, name, namespace, rules, labels, aggregation``; rules with ``verbs, api_groups, resources,
resource_names, non_resource_urls``; bindings with ``kind, name, namespace, role_ref (kind, name),
subjects (kind, name, namespace)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["Universe", "universe_of", "OTHER", "service_account_user"]

OTHER = "other"
_WILDCARD = "*"


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


@attrs.frozen
class Universe:
    """Per field, the values a request may take (sorted; index 0 is not special)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    subresources: tuple[str, ...]
    names: tuple[str, ...]
    namespaces: tuple[str, ...]
    paths: tuple[str, ...]
    users: tuple[str, ...]
    groups: tuple[str, ...]

    def size(self) -> int:
        """How many distinct requests the universe holds (what brute force would enumerate)."""
        resource = (len(self.verbs) * len(self.api_groups) * len(self.resources) * len(self.subresources)
                    * len(self.names) * len(self.namespaces))
        return (resource + len(self.verbs) * len(self.paths)) * len(self.users) * 2 ** len(self.groups)

    def extended(self, **values: Iterable[str]) -> "Universe":
        """This universe with more values for some fields, named in the plural (``names=...``):
        the names a node graph or an authorizer's fixed rules mention join the policy's."""
        return attrs.evolve(self, **{field: _sorted(set(getattr(self, field)) | set(extra))
                                     for field, extra in values.items()})


def _sorted(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


def _rules(policies) -> list:
    return [rule for policy in policies for role in policy.roles for rule in role.rules]


def _paths(urls: Iterable[str]) -> set[str]:
    found = {"/" + OTHER}
    for url in urls:
        base = url.rstrip(_WILDCARD)
        found.add(base)
        found.add(base + OTHER)
        if not url.endswith(_WILDCARD):
            found.add(url + "/" + OTHER)
    return found


def _users_and_groups(policies) -> tuple[set[str], set[str]]:
    users, groups = {OTHER + "-user"}, set()
    for policy in policies:
        for binding in policy.bindings:
            for subject in binding.subjects:
                if subject.kind == "User":
                    users.add(subject.name)
                elif subject.kind == "Group":
                    groups.add(subject.name)
                elif subject.kind == "ServiceAccount" and (subject.namespace or binding.namespace):
                    users.add(service_account_user(subject.namespace or binding.namespace, subject.name))
                    # The same account name in a namespace nobody mentions: what tells a namespace
                    # compared from one compared by name alone.
                    users.add(service_account_user(OTHER + "-ns", subject.name))
    return users, groups


def universe_of(*policies, extra_users: Iterable[str] = (), extra_groups: Iterable[str] = ()) -> Universe:
    """The universe of one policy, or the joint one of several (for diff)."""
    rules = _rules(policies)
    resources = {r.split("/", 1)[0] for rule in rules for r in rule.resources} | {OTHER + "-resource"}
    subresources = {r.split("/", 1)[1] for rule in rules for r in rule.resources if "/" in r} | {"", OTHER + "-sub"}
    namespaces = {"", OTHER + "-ns"} | {b.namespace for p in policies for b in p.bindings if b.namespace}
    namespaces |= {r.namespace for p in policies for r in p.roles if r.namespace}
    users, groups = _users_and_groups(policies)
    return Universe(
        verbs=_sorted({v for rule in rules for v in rule.verbs} | {OTHER + "-verb"}),
        api_groups=_sorted({g for rule in rules for g in rule.api_groups} | {"", OTHER + ".example.com"}),
        resources=_sorted(resources),
        subresources=_sorted(subresources),
        names=_sorted({n for rule in rules for n in rule.resource_names} | {"", OTHER + "-name"}),
        namespaces=_sorted(namespaces),
        paths=_sorted(_paths(u for rule in rules for u in rule.non_resource_urls)),
        users=_sorted(users | set(extra_users)),
        groups=_sorted(groups | set(extra_groups)),
    )
