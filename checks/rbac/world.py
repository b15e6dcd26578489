"""The sample cluster the ``rbac`` area proves its properties on.

Its policy has the shape of the default Kubernetes roles: ``admin``, ``edit`` and ``view`` are
aggregated ClusterRoles built from labelled parts (``admin`` gathers ``edit``, which gathers
``view``), bound per namespace with RoleBindings, beside the corner cases a matcher can get
wrong: ``*/scale``, resourceNames, exact and prefix URLs, a bare ServiceAccount subject, and a
Role that names ``impersonate`` on users and groups (which only a ClusterRoleBinding grants), and
a user who writes roles and bindings while holding a rule limited by resourceNames. Its
node graph has two pods on two nodes that mount secrets and claims of the same name in
different namespaces. The chain is the API server's privileged-groups check (system:masters), Node, a
webhook that forbids the ``contractors`` group to touch secrets (and is unreachable for
``/flaky``), then RBAC.
"""

from __future__ import annotations

import attrs

from impl.apiserver.authz.manifests import policy_from_text
from impl.apiserver.authz.node import NodeGraph, PodRefs
from impl.apiserver.authz.rbac import Policy
from impl.apiserver.authz.types import Request
from impl.apiserver.authz.webhook import WebhookReply, WebhookUnavailable

__all__ = ["World", "sample_world", "SAMPLE_POLICY_YAML", "contractor_webhook"]


def _cluster_role(name: str, labels: dict[str, str], rules: str = "", selects: str = "") -> str:
    label_lines = "".join(f"\n    {k}: \"{v}\"" for k, v in labels.items()) or " {}"
    text = f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\n  labels:{label_lines}\n"
    if selects:
        text += f"aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels:\n      {selects}: \"true\"\nrules: []\n"
    return text + rules


_AGG = "rbac.authorization.k8s.io/aggregate-to-"

SAMPLE_POLICY_YAML = "".join([
    _cluster_role("admin", {}, selects=_AGG + "admin"),
    _cluster_role("edit", {_AGG + "admin": "true"}, selects=_AGG + "edit"),
    _cluster_role("view", {_AGG + "edit": "true"}, selects=_AGG + "view"),
    _cluster_role("aggregate-to-admin", {_AGG + "admin": "true"}, """rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: ["*"]
"""),
    _cluster_role("aggregate-to-edit", {_AGG + "edit": "true"}, """rules:
- apiGroups: [""]
  resources: [pods, secrets, configmaps]
  verbs: [create, delete, patch, update, get, list, watch]
- apiGroups: [""]
  resources: [pods/exec]
  verbs: [create]
- apiGroups: [apps]
  resources: [deployments, "*/scale"]
  verbs: [create, delete, patch, update]
"""),
    _cluster_role("aggregate-to-view", {_AGG + "view": "true"}, """rules:
- apiGroups: ["", apps]
  resources: [pods, pods/log, configmaps, deployments, deployments/scale]
  verbs: [get, list, watch]
"""),
    _cluster_role("cluster-admin", {}, """rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
- nonResourceURLs: ["*"]
  verbs: ["*"]
"""),
    _cluster_role("discovery", {}, """rules:
- nonResourceURLs: [/healthz, /version, /api, /api/*, /apis/*]
  verbs: [get]
"""),
    _cluster_role("app-config-reader", {}, """rules:
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [app-config]
  verbs: [get]
"""),
    _cluster_role("support-impersonator", {}, """rules:
- apiGroups: [""]
  resources: [users]
  resourceNames: [alice]
  verbs: [impersonate]
- apiGroups: [""]
  resources: [groups]
  resourceNames: [devs]
  verbs: [impersonate]
"""),
    """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: support-impersonator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: support-impersonator}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ivy}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: rolebinding-writer, namespace: team-a}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings, roles]
  verbs: [create, update]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [team-settings]
  verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cluster-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:masters"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: discovery}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: discovery}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: app-config-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: app-config-reader}
subjects: [{kind: ServiceAccount, name: config-agent, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-admin, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: editors, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: contractors}
- {kind: ServiceAccount, name: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: user-switcher, namespace: team-b}
rules: [{apiGroups: [""], resources: [users, groups, serviceaccounts], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: eve-switches-users, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: user-switcher}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: eve}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dana-writes-bindings, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: rolebinding-writer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: dana}]
""",
])


def contractor_webhook(request: Request) -> WebhookReply:
    """The remote policy service: contractors never touch secrets; it is down for ``/flaky``."""
    if not request.resource_request and request.path == "/flaky":
        raise WebhookUnavailable("connection refused")
    if "contractors" in request.user.groups and request.resource == "secrets":
        return WebhookReply(allowed=False, denied=True)
    return WebhookReply()


@attrs.frozen
class World:
    policy: Policy
    graph: NodeGraph
    nodes: tuple[str, ...]


def sample_world() -> World:
    graph = NodeGraph(
        pods=(PodRefs("team-a", "web", "node-1", secrets=("db-password",), configmaps=("app-config",), claims=("data",)),
              PodRefs("team-b", "api", "node-2", secrets=("db-password", "api-token"), configmaps=("api-config",),
                      claims=("data",))),
        volumes=((("team-a", "data"), "pv-data"),),
    )
    return World(policy_from_text(SAMPLE_POLICY_YAML, "<sample policy>"), graph, ("node-1", "node-2", "node-3"))
