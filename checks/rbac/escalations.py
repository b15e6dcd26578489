"""escalations: who can gain more power than they were given, directly or transitively.

Direct findings (the classic list of rbac-police, KubiScan and krane): a subject can

- read secrets cluster-wide (get/list/watch secrets through a ClusterRoleBinding);
- impersonate users or groups (cluster-wide only: a RoleBinding never grants it) or service accounts;
- ``bind`` or ``escalate`` roles; create or patch (Cluster)RoleBindings (patch only where the
  rule names them: patch on ``*`` alone is refused by the escalation check);
- write mutating or validating admission webhook configurations;
- use ``nodes/proxy`` (kubelet API) or ``pods/exec``; mint ``serviceaccounts/token``;
- create pods or workloads in a namespace with a service account more powerful than the subject
  (the pod runs with that account's token).

Each subject is judged on its own bindings (a Group as itself; what ``system:authenticated`` may
do shows up once, under that group). Transitive findings follow the escalation-prevention rules
to a fixpoint: with ``create`` on bindings a subject may bind any role it holds ``bind`` on or
whose rules it already covers, which may let it create further bindings; with ``escalate`` and
write access on a role bound to it, it may rewrite that role to anything.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from impl.apiserver.authz.escalation import covers
from impl.apiserver.authz.rbac import ALL, Policy, RBACAuthorizer
from impl.apiserver.authz.types import RBAC_GROUP, Binding, PolicyRule, Request, Role, Subject, UserInfo

__all__ = ["Risk", "RISKS", "Finding", "Gain", "Report", "find_escalations", "render_escalations", "ROUNDS_MAX"]

FULL_CONTROL = PolicyRule(verbs=(ALL,), api_groups=(ALL,), resources=(ALL,))
WORKLOADS = (("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"), ("apps", "replicasets"),
             ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"))


@attrs.frozen
class Risk:
    id: str
    description: str
    verbs: tuple[str, ...]
    targets: tuple[tuple[str, str, str], ...]  # (api group, resource, subresource)
    cluster_wide_only: bool = False
    named_only_verbs: tuple[str, ...] = ()  # verbs that count only when the rule names the resource, not by "*"


RISKS: tuple[Risk, ...] = (
    Risk("secrets-cluster-wide", "read secrets in every namespace", ("get", "list", "watch"),
         (("", "secrets", ""),), cluster_wide_only=True),
    # Users, groups, uids and extras are impersonated with no namespace, so only a ClusterRoleBinding
    # grants it; a service account is asked in its own namespace (impersonation.go).
    Risk("impersonate", "impersonate users or groups", ("impersonate",),
         (("", "users", ""), ("", "groups", ""), ("authentication.k8s.io", "uids", ""),
          ("authentication.k8s.io", "userextras", "*")), cluster_wide_only=True),
    Risk("impersonate-serviceaccounts", "impersonate service accounts", ("impersonate",), (("", "serviceaccounts", ""),)),
    Risk("bind", "bind roles it does not hold", ("bind",), ((RBAC_GROUP, "roles", ""), (RBAC_GROUP, "clusterroles", ""))),
    Risk("escalate", "write roles with permissions it does not hold", ("escalate",),
         ((RBAC_GROUP, "roles", ""), (RBAC_GROUP, "clusterroles", ""))),
    # "patch" on "*" is what many controllers hold; the API server's escalation check refuses any
    # binding change that grants more than the writer holds, so it is no path by itself.
    Risk("write-bindings", "create or patch role bindings", ("create", "update", "patch"),
         ((RBAC_GROUP, "rolebindings", ""), (RBAC_GROUP, "clusterrolebindings", "")), named_only_verbs=("patch",)),
    # A webhook sees (and a mutating one rewrites) every request it selects, secrets and tokens
    # included, and can refuse any; whoever writes its configuration steers the cluster.
    Risk("admission-webhooks", "write admission webhook configurations (see or rewrite every request)",
         ("create", "update", "patch"), (("admissionregistration.k8s.io", "mutatingwebhookconfigurations", ""),
                                         ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "")),
         cluster_wide_only=True),
    Risk("nodes-proxy", "reach the kubelet API through nodes/proxy", ("get", "create"), (("", "nodes", "proxy"),)),
    Risk("pods-exec", "run commands in pods (pods/exec)", ("create", "get"), (("", "pods", "exec"),)),
    Risk("serviceaccount-token", "mint service account tokens", ("create",), (("", "serviceaccounts", "token"),)),
)


@attrs.frozen
class Finding:
    subject: Subject
    risk: str
    scope: str  # a namespace, or "cluster-wide"
    detail: str


@attrs.frozen
class Gain:
    """A step of the transitive closure: the subject can give itself ``what`` in ``scope``."""

    subject: Subject
    scope: str
    what: str
    how: str


@attrs.frozen
class Report:
    findings: tuple[Finding, ...]
    gains: tuple[Gain, ...]


def _scope_name(namespace: str) -> str:
    return namespace or "cluster-wide"


def _subject_key(subject: Subject, binding: Binding) -> Subject:
    if subject.kind == "ServiceAccount" and not subject.namespace:
        return attrs.evolve(subject, namespace=binding.namespace)
    return subject


class _Holdings:
    """What each subject holds: (binding namespace or "" for cluster-wide, role) pairs."""

    def __init__(self, authorizer: RBACAuthorizer) -> None:
        self.authorizer = authorizer
        self.by_subject: dict[Subject, list[tuple[str, Role, Binding]]] = {}
        for binding in authorizer.bindings:
            role = authorizer.role_for(binding)
            if role is None:
                continue
            for subject in binding.subjects:
                self.by_subject.setdefault(_subject_key(subject, binding), []).append((binding.namespace, role, binding))

        self._subjects = sorted(self.by_subject, key=lambda s: (s.kind, s.namespace, s.name))
        self.accounts: dict[str, list[Subject]] = {}
        for subject in self._subjects:
            if subject.kind == "ServiceAccount":
                self.accounts.setdefault(subject.namespace, []).append(subject)
        self.power: dict[Subject, list[tuple[str, list[PolicyRule]]]] = {}

    def subjects(self) -> list[Subject]:
        return self._subjects

    def rules_in(self, held: Iterable[tuple[str, Role, object]], namespace: str) -> list[PolicyRule]:
        """Rules in force in ``namespace`` ("" means cluster-scoped requests: ClusterRoleBindings only)."""
        return [rule for scope, role, _ in held if scope == "" or (namespace and scope == namespace) for rule in role.rules]


def _allows(authorizer: RBACAuthorizer, rules: Iterable[PolicyRule], verb: str, group: str, resource: str,
            sub: str = "", namespace: str = "", name: str = "") -> bool:
    request = Request(user=UserInfo(""), verb=verb, api_group=group, resource=resource, subresource=sub,
                      namespace=namespace, name=name)
    return any(authorizer.semantics.rule_allows(rule, request) for rule in rules)


def _risk_findings(subject: Subject, holdings: _Holdings) -> list[Finding]:
    found = []
    held = holdings.by_subject[subject]
    for scope, role, binding in held:
        for risk in RISKS:
            if risk.cluster_wide_only and scope:
                continue
            for index, rule in enumerate(role.rules):
                names = rule.resource_names or ("",)
                hits = [(v, t) for v in risk.verbs for t in risk.targets for n in names
                        if (v not in risk.named_only_verbs or t[1] in rule.resources)
                        and _allows(holdings.authorizer, [rule], v, t[0], t[1], t[2], scope, n)]
                if hits:
                    limited = f" (only {', '.join(rule.resource_names)})" if rule.resource_names else ""
                    detail = f"{risk.description}{limited}: {binding.describe()}, rule #{index}"
                    found.append(Finding(subject, risk.id, _scope_name(scope), detail))
                    break
    return found


def _account_power(holdings: _Holdings, account: Subject) -> list[tuple[str, list[PolicyRule]]]:
    if account not in holdings.power:
        held = holdings.by_subject.get(account, [])
        holdings.power[account] = [(scope, holdings.rules_in(held, scope)) for scope in sorted({s for s, _, _ in held})]
    return holdings.power[account]


def _stronger_account(subject: Subject, holdings: _Holdings, namespace: str) -> tuple[Subject, str, PolicyRule] | None:
    """The first service account of ``namespace`` holding something ``subject`` does not."""
    held = holdings.by_subject[subject]
    for account in holdings.accounts.get(namespace, ()):
        if account == subject:
            continue
        for scope, account_rules in _account_power(holdings, account):
            missing = covers(holdings.rules_in(held, scope), account_rules)
            if missing:
                return account, scope, missing[0]
    return None


def _workload_findings(subject: Subject, holdings: _Holdings) -> list[Finding]:
    """Creating a pod in a namespace lets one run it as any service account there; one finding
    per namespace, naming the first account that is more powerful than the subject."""
    held = holdings.by_subject[subject]
    namespaces = sorted(holdings.accounts)
    if all(scope for scope, _, _ in held):  # no ClusterRoleBinding: only its RoleBindings' namespaces
        namespaces = sorted(set(namespaces) & {scope for scope, _, _ in held})
    found = []
    for namespace in namespaces:
        rules = holdings.rules_in(held, namespace)
        if not any(_allows(holdings.authorizer, rules, "create", g, r, "", namespace) for g, r in WORKLOADS):
            continue
        stronger = _stronger_account(subject, holdings, namespace)
        if stronger is not None:
            account, scope, rule = stronger
            found.append(Finding(subject, "workload-runs-as-stronger-account", namespace,
                                 f"can create workloads in {namespace} running as {account.describe()}, "
                                 f"which may {_rule_text(rule)} ({_scope_name(scope)})"))
    return found


def _rule_text(rule: PolicyRule) -> str:
    if rule.non_resource_urls:
        return f"{rule.verbs[0]} {rule.non_resource_urls[0]}"
    group = f".{rule.api_groups[0]}" if rule.api_groups and rule.api_groups[0] else ""
    name = f"/{rule.resource_names[0]}" if rule.resource_names else ""
    return f"{rule.verbs[0]} {rule.resources[0]}{group}{name}"


# --- transitive: what a subject can grant itself ------------------------------------------------

ROUNDS_MAX = 64  # each round adds at least one grant; real policies settle in two or three


def _role_resource(kind: str) -> str:
    return "roles" if kind == "Role" else "clusterroles"


def _full_control(scope: str) -> Role:
    return Role("Role" if scope else "ClusterRole", "<any role it writes>", scope, rules=(FULL_CONTROL,))


def _bind_gains(subject: Subject, holdings: _Holdings, held, scope: str, roles: list[Role]):
    rules = holdings.rules_in(held, scope)
    authorizer = holdings.authorizer
    if not _allows(authorizer, rules, "create", RBAC_GROUP, "rolebindings" if scope else "clusterrolebindings", "", scope):
        return
    for role in roles:
        if role.kind == "Role" and role.namespace != scope or not role.rules:
            continue  # not bindable here, or nothing in it
        # bind first: it is rare, and the coverage check is the expensive part.
        if _allows(authorizer, rules, "bind", RBAC_GROUP, _role_resource(role.kind), "", scope, role.name) \
                and covers(rules, role.rules):
            yield Gain(subject, _scope_name(scope), f"{role.kind} {role.name}",
                       "may create bindings and holds bind on it"), scope, role
    writes_roles = _allows(authorizer, rules, "create", RBAC_GROUP, _role_resource("Role" if scope else "ClusterRole"), "", scope)
    if writes_roles and all(_allows(authorizer, rules, verb, RBAC_GROUP, _role_resource("Role" if scope else "ClusterRole"), "", scope)
                            for verb in ("escalate", "bind")):
        yield Gain(subject, _scope_name(scope), "full control", "may create a role with any rules (escalate) and bind it"), \
            scope, _full_control(scope)


def _rewrite_gains(subject: Subject, holdings: _Holdings, held, scope: str):
    """escalate + update on a role already bound to the subject: rewrite it to anything."""
    rules = holdings.rules_in(held, scope)
    for bound_scope, role, _ in held:
        if bound_scope != scope or role.name.startswith("<"):
            continue
        where = role.namespace
        if all(_allows(holdings.authorizer, rules, verb, RBAC_GROUP, _role_resource(role.kind), "", where, role.name)
               for verb in ("escalate", "update")):
            yield Gain(subject, _scope_name(scope), "full control",
                       f"may rewrite {role.kind} {role.name}, bound to it, with any rules (escalate)"), scope, _full_control(scope)
            return


def _closure(subject: Subject, holdings: _Holdings, scopes: list[str], roles: list[Role]) -> list[Gain]:
    held = list(holdings.by_subject[subject])
    have = {(scope, role.key) for scope, role, _ in held}
    gains: list[Gain] = []
    for _ in range(ROUNDS_MAX):
        fresh = []
        for scope in scopes:
            if not covers(holdings.rules_in(held, scope), [FULL_CONTROL]):
                continue  # it already holds everything here
            for gain, where, role in list(_bind_gains(subject, holdings, held, scope, roles)) + \
                    list(_rewrite_gains(subject, holdings, held, scope)):
                if (where, role.key) not in have:
                    have.add((where, role.key))
                    fresh.append((where, role, gain.how))
                    gains.append(gain)
        if not fresh:
            return gains
        held.extend(fresh)
    raise AssertionError(f"no fixpoint after {ROUNDS_MAX} rounds for {subject.describe()}")


def _may_write_rbac(subject: Subject, holdings: _Holdings) -> bool:
    """Only subjects that can create bindings or escalate roles somewhere can gain anything."""
    for scope, role, _ in holdings.by_subject[subject]:
        for verb, resource in (("create", "rolebindings"), ("create", "clusterrolebindings"),
                               ("escalate", "roles"), ("escalate", "clusterroles")):
            if any(_allows(holdings.authorizer, [r], verb, RBAC_GROUP, resource, "", scope, n)
                   for r in role.rules for n in (r.resource_names or ("",))):
                return True
    return False


def find_escalations(policy: Policy, authorizer: RBACAuthorizer | None = None) -> Report:
    authorizer = authorizer or RBACAuthorizer(policy)
    holdings = _Holdings(authorizer)
    scopes = [""] + sorted({b.namespace for b in policy.bindings if b.namespace} | {r.namespace for r in policy.roles if r.namespace})
    roles = authorizer.roles()
    findings, gains = [], []
    for subject in holdings.subjects():
        findings += _risk_findings(subject, holdings) + _workload_findings(subject, holdings)
        if _may_write_rbac(subject, holdings):
            gains += _closure(subject, holdings, scopes, roles)
    return Report(tuple(findings), tuple(gains))


def render_escalations(report: Report, console) -> None:
    if not report.findings and not report.gains:
        console.print("no escalation paths found")
        return
    subjects = sorted({f.subject for f in report.findings} | {g.subject for g in report.gains},
                      key=lambda s: (s.kind, s.namespace, s.name))
    for subject in subjects:
        console.print(f"{subject.describe()}:", markup=False)
        for finding in (f for f in report.findings if f.subject == subject):
            console.print(f"  [{finding.risk}] {finding.scope}: {finding.detail}", markup=False, soft_wrap=True)
        for gain in (g for g in report.gains if g.subject == subject):
            console.print(f"  [transitive] {gain.scope}: can grant itself {gain.what}: {gain.how}", markup=False, soft_wrap=True)
