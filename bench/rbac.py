"""RBAC figures for ``make bench``: can-i, who-can, diff and escalations on two policies, and the
same questions answered by brute-force enumeration over the finite universe, as a ratio.

Policies: the Kubernetes bootstrap policy (38 roles: 31 ClusterRoles and 7 Roles, 10 bindings;
a copy lives in tests/rbac/bootstrap) and a generated one with 2,000 roles and 5,000 bindings
(seeded, so every run measures the same policy). The wall clock is read here and only here.

Brute force means what a tool without z3 or an index would do: who-can asks the authorizer once
per identity (every user and service account the policy names, and one member per group); diff
evaluates both policies on every request of the joint universe; escalations asks the authorizer
every risky question for every subject in every namespace. Where the universe is too large to
enumerate, the time is measured on a sample and multiplied out (marked "est.").
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import attrs

from checks.rbac.diff import diff_policies
from checks.rbac.escalations import RISKS, find_escalations
from checks.rbac.whocan import brute_force_who_can, who_can
from impl.apiserver.authz.manifests import load_policy
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.authz.types import (
    Binding, LabelSelector, PolicyRule, Request, Role, RoleRef, Subject, UserInfo,
)
from spec.rbac.universe import universe_of

__all__ = ["run", "generated_policy", "install_manifest", "INSTALL_RBAC"]

BOOTSTRAP = Path(__file__).resolve().parent.parent / "tests" / "rbac" / "bootstrap"
INSTALL_RBAC = BOOTSTRAP.parent / "argocd-install-rbac.yaml"
INSTALL_BYTES = 2_000_000
SEED = 20240601
CAN_I_QUERIES = 2_000
WHO_CAN_QUERIES = 100
BRUTE_WHO_CAN_QUERIES = 10
BRUTE_SAMPLE_REQUESTS = 4_000

_GROUPS = {
    "": ["pods", "pods/log", "pods/exec", "pods/status", "services", "secrets", "configmaps", "serviceaccounts",
         "serviceaccounts/token", "persistentvolumeclaims", "events", "endpoints", "nodes", "nodes/proxy", "namespaces"],
    "apps": ["deployments", "deployments/scale", "replicasets", "statefulsets", "daemonsets"],
    "batch": ["jobs", "cronjobs"],
    "networking.k8s.io": ["ingresses", "networkpolicies"],
    "rbac.authorization.k8s.io": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
}
_WEIGHTS = {"": 50, "apps": 25, "batch": 10, "networking.k8s.io": 10, "rbac.authorization.k8s.io": 2}
_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]


def _rule(rng: random.Random, namespaced: bool) -> PolicyRule:
    if not namespaced and rng.random() < 0.05:
        return PolicyRule(verbs=("get",), non_resource_urls=(rng.choice(["/healthz", "/metrics", "/logs/*", "/api/*"]),))
    group = rng.choices(sorted(_GROUPS), weights=[_WEIGHTS[g] for g in sorted(_GROUPS)])[0]
    resources = tuple(sorted(rng.sample(_GROUPS[group], k=min(len(_GROUPS[group]), rng.randint(1, 3)))))
    verbs = ("*",) if rng.random() < 0.03 else tuple(sorted(rng.sample(_VERBS, k=rng.randint(1, 4))))
    names = (f"obj-{rng.randint(0, 20)}",) if rng.random() < 0.1 else ()
    return PolicyRule(verbs=verbs, api_groups=(group,), resources=resources, resource_names=names)


def _subject(rng: random.Random, namespaces: list[str], users: int, groups: int) -> Subject:
    roll = rng.random()
    if roll < 0.6:
        return Subject("User", f"user-{rng.randrange(users):04d}")
    if roll < 0.8:
        return Subject("Group", f"group-{rng.randrange(groups):02d}")
    return Subject("ServiceAccount", f"sa-{rng.randrange(5)}", rng.choice(namespaces))


def generated_policy(roles: int = 2_000, bindings: int = 5_000, namespaces: int = 50, seed: int = SEED) -> Policy:
    """A policy of the given size: a quarter ClusterRoles (ten of them aggregated), the rest Roles
    spread over the namespaces; a tenth of the bindings cluster-wide."""
    rng = random.Random(seed)
    ns = [f"ns-{i:03d}" for i in range(namespaces)]
    cluster_count = roles // 4
    made: list[Role] = [Role("ClusterRole", "cluster-admin", rules=(PolicyRule(("*",), ("*",), ("*",)),))]
    for i in range(10):
        made.append(Role("ClusterRole", f"aggregate-{i}", aggregation=(LabelSelector(((f"agg-{i}", "true"),)),)))
    for i in range(cluster_count - len(made)):
        labels = ((f"agg-{rng.randrange(10)}", "true"),) if rng.random() < 0.3 else ()
        made.append(Role("ClusterRole", f"cr-{i:04d}", labels=labels,
                         rules=tuple(_rule(rng, False) for _ in range(rng.randint(1, 6)))))
    for i in range(roles - len(made)):
        made.append(Role("Role", f"role-{i:04d}", ns[i % namespaces],
                         rules=tuple(_rule(rng, True) for _ in range(rng.randint(1, 6)))))
    cluster_names = [r.name for r in made if r.kind == "ClusterRole" and r.name != "cluster-admin"]
    by_namespace = {n: [r.name for r in made if r.namespace == n] for n in ns}
    made_bindings = []
    for i in range(bindings):
        subjects = tuple(_subject(rng, ns, 1_000, 50) for _ in range(rng.randint(1, 3)))
        if i < bindings // 10:
            ref = RoleRef("ClusterRole", "cluster-admin" if i < 3 else rng.choice(cluster_names))
            made_bindings.append(Binding("ClusterRoleBinding", f"crb-{i:04d}", ref, subjects))
            continue
        namespace = rng.choice(ns)
        ref = RoleRef("ClusterRole", rng.choice(cluster_names)) if rng.random() < 0.3 \
            else RoleRef("Role", rng.choice(by_namespace[namespace]))
        made_bindings.append(Binding("RoleBinding", f"rb-{i:04d}", ref, subjects, namespace))
    return Policy(tuple(made), tuple(made_bindings))


def _changed(policy: Policy) -> Policy:
    """The same policy after a typical change: a few bindings removed, a few roles widened."""
    bindings = [b for i, b in enumerate(policy.bindings) if i % 100 != 7]
    wider = PolicyRule(("delete",), ("",), ("secrets",))
    roles = [attrs.evolve(r, rules=r.rules + (wider,)) if i % 200 == 5 else r for i, r in enumerate(policy.roles)]
    return Policy(tuple(roles), tuple(bindings))


def _sample_requests(policy: Policy, count: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    universe = universe_of(policy)
    found = []
    for _ in range(count):
        groups = tuple(sorted(rng.sample(universe.groups, k=min(2, len(universe.groups)))))
        user = UserInfo(rng.choice(universe.users), groups)
        if rng.random() < 0.1:
            found.append(Request(user=user, verb="get", resource_request=False, path=rng.choice(universe.paths)))
            continue
        found.append(Request(user=user, verb=rng.choice(universe.verbs), api_group=rng.choice(universe.api_groups),
                             resource=rng.choice(universe.resources), subresource=rng.choice(universe.subresources),
                             name=rng.choice(universe.names), namespace=rng.choice(universe.namespaces)))
    return found


def install_manifest(folder: Path, size: int = INSTALL_BYTES) -> Path:
    """An install manifest of ``size`` bytes the way real ones are (Argo CD's is 1.9 MB): a few
    huge CRD schemas, small objects between them, and the RBAC objects of Argo CD's install."""
    schema = "".join(f"              field{i}:\n                description: a field of the schema, number {i}\n"
                     f"                type: string\n" for i in range(400))
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.example.com}\n"
           "spec:\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n        properties:\n"
           "          spec:\n            properties:\n" + schema)
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n"
    parts = [INSTALL_RBAC.read_text()] + [crd, config] * (size // (len(crd) + len(config)) + 1)
    path = folder / "install.yaml"
    path.write_text("\n---\n".join(parts))
    return path


def _can_i_on_install(console) -> str:
    """The time ``kinv rbac can-i`` spends loading and answering on a 2 MB install manifest."""
    import contextlib
    import io
    import tempfile

    from checks.cli import main

    with tempfile.TemporaryDirectory() as folder:
        path = install_manifest(Path(folder))
        argv = ["rbac", "can-i", "get", "secrets", "-n", "argocd", "--default-namespace", "argocd",
                "--as", "system:serviceaccount:argocd:argocd-server", "-f", str(path)]
        with contextlib.redirect_stdout(io.StringIO()):  # can-i's "yes"
            _, seconds = _timed(main, argv)
        return f"  can-i on a {path.stat().st_size / 1e6:.1f} MB install manifest: {seconds:.2f} s (loading included)"


def _timed(function, *args):
    started = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - started


def _identities(policy: Policy) -> list[UserInfo]:
    universe = universe_of(policy)
    return [UserInfo(u) for u in universe.users] + [UserInfo("member", (g,)) for g in universe.groups]


def _measure(label: str, policy: Policy, console) -> list[str]:
    authorizer, build = _timed(RBACAuthorizer, policy)
    universe = universe_of(policy)
    requests = _sample_requests(policy, CAN_I_QUERIES, SEED)
    _, can_i = _timed(lambda: [any(True for _ in authorizer.grants(r)) for r in requests])
    _, whocan = _timed(lambda: [who_can(authorizer, r) for r in requests[:WHO_CAN_QUERIES]])
    identities = _identities(policy)
    _, brute_whocan = _timed(lambda: [brute_force_who_can(authorizer, r, identities) for r in requests[:BRUTE_WHO_CAN_QUERIES]])
    changed = _changed(policy)
    diff, diff_seconds = _timed(diff_policies, policy, changed)
    new_authorizer = RBACAuthorizer(changed)
    _, sample = _timed(lambda: [(authorizer.authorize(r), new_authorizer.authorize(r)) for r in requests[:BRUTE_SAMPLE_REQUESTS]])
    joint_size = universe_of(policy, changed).size()
    brute_diff = sample / min(BRUTE_SAMPLE_REQUESTS, len(requests)) * joint_size
    escalations, escalation_seconds = _timed(find_escalations, policy, authorizer)
    probes = sum(len(r.verbs) * len(r.targets) for r in RISKS) * len(universe.namespaces) * len(identities)
    brute_escalations = sample / 2 / min(BRUTE_SAMPLE_REQUESTS, len(requests)) * probes
    per_who_can = whocan / WHO_CAN_QUERIES
    per_brute_who_can = brute_whocan / BRUTE_WHO_CAN_QUERIES
    return [
        f"{label}: {len(policy.roles):,} roles, {len(policy.bindings):,} bindings; authorizer built in {build * 1e3:.1f} ms; "
        f"universe {universe.size():.3g} requests",
        f"  can-i      {can_i / len(requests) * 1e6:9.1f} µs per question ({len(requests):,} questions)",
        f"  who-can    {per_who_can * 1e3:9.2f} ms per question; brute force over {len(identities):,} identities "
        f"{per_brute_who_can * 1e3:.1f} ms; ratio {per_brute_who_can / per_who_can:,.0f}x",
        f"  diff       {diff_seconds:9.3f} s ({len(diff.added)} added, {len(diff.removed)} removed examples); brute force "
        f"over {joint_size:.3g} requests {brute_diff:.3g} s (est.); ratio {brute_diff / diff_seconds:.3g}x",
        f"  escalations{escalation_seconds:9.3f} s ({len(escalations.findings):,} findings, {len(escalations.gains)} transitive); "
        f"brute force {probes:.3g} questions {brute_escalations:.3g} s (est.); ratio {brute_escalations / escalation_seconds:.3g}x",
    ]


def run(console) -> None:
    """Print the rbac figures (called by ``python -m bench``)."""
    console.print("[bold]rbac[/]")
    console.print(_can_i_on_install(console), markup=False, highlight=False, soft_wrap=True)
    for label, policy in (("bootstrap policy", load_policy([BOOTSTRAP])), ("generated policy", generated_policy())):
        for line in _measure(label, policy, console):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
