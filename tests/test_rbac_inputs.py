"""`kinv rbac` on inputs as real installs bring them (issue 9): impersonation, namespace-less
objects, roles outside the input, full diffs, unknown words, -f anywhere, --json, Helm, speed."""

import json
import time

import pytest

from bench.rbac import install_manifest
from checks.rbac.cli import paths_last
from impl.apiserver.authz.manifests import bootstrap_policy, load_manifests
from tests.test_rbac_cli import HERE, SHAPE, run

IMPERSONATION = str(HERE / "impersonation.yaml")
ARGOCD = str(HERE / "argocd-install-rbac.yaml")


@pytest.mark.parametrize("argv, answer", [
    (["impersonate", "users/alice", "-n", "shop", "--as", "eve"], "no"),     # a Role never grants users
    (["impersonate", "groups/system:masters", "-n", "shop", "--as", "eve"], "no"),
    (["impersonate", "serviceaccounts/robot", "-n", "shop", "--as", "eve"], "yes"),  # service accounts: in their namespace
    (["impersonate", "users/alice", "--as", "ivy"], "yes"),
    (["impersonate", "users/alice", "-n", "shop", "--as", "ivy"], "yes"),   # users are cluster-wide, whatever -n says
])
def test_can_i_impersonate_follows_the_impersonation_filter(capsys, argv, answer):
    code, out, _ = run(capsys, "rbac", "can-i", *argv, "-f", IMPERSONATION)
    assert out.strip() == answer and code == (0 if answer == "yes" else 1)


def test_who_can_and_escalations_do_not_count_a_role_for_users(capsys):
    _, out, _ = run(capsys, "rbac", "who-can", "impersonate", "users/alice", "-n", "shop", "-f", IMPERSONATION)
    assert "User ivy" in out and "eve" not in out
    _, out, _ = run(capsys, "rbac", "escalations", "-f", IMPERSONATION)
    eve = out.split("User eve:")[1].split("User ivy:")[0]
    assert "[impersonate-serviceaccounts] shop" in eve and "[impersonate]" not in eve
    assert "[impersonate] cluster-wide" in out.split("User ivy:")[1]


def test_namespace_less_objects_warn_and_follow_default_namespace(capsys):
    code, out, err = run(capsys, "rbac", "can-i", "get", "secrets", "-n", "argocd", "-f", ARGOCD,
                         "--as", "system:serviceaccount:argocd:argocd-dex-server")
    assert out.strip() == "no" and "Roles and RoleBindings name no namespace and were put in default" in err
    assert err.count("\n") == 1
    code, out, err = run(capsys, "rbac", "can-i", "get", "secrets", "-n", "argocd", "-f", ARGOCD,
                         "--default-namespace", "argocd", "--as", "system:serviceaccount:argocd:argocd-dex-server")
    assert (code, out.strip(), err) == (0, "yes", "")
    code, _, err = run(capsys, "rbac", "who-can", "get", "pods", "-f", ARGOCD, "--default-namespace", "Not_A_Name")
    assert code == 2 and "not a namespace name" in err and err.count("\n") == 1


def test_binding_to_a_role_outside_the_input_warns_and_bootstrap_supplies_it(tmp_path, capsys):
    binding = tmp_path / "ops.yaml"
    binding.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ops}\n"
                       "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
                       "subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: olga}]\n")
    code, out, err = run(capsys, "rbac", "can-i", "delete", "nodes", "--as", "olga", "-f", str(binding))
    assert (code, out.strip()) == (1, "no")
    assert "ClusterRoleBinding ops -> ClusterRole cluster-admin: no such role in the input" in err and "--with-bootstrap" in err
    code, out, err = run(capsys, "rbac", "can-i", "delete", "nodes", "--as", "olga", "-f", str(binding), "--with-bootstrap")
    assert (code, out.strip(), err) == (0, "yes", "")
    code, out, _ = run(capsys, "rbac", "can-i", "get", "/healthz", "--as", "system:anonymous", "-f", str(binding),
                       "--with-bootstrap")
    assert out.strip() == "yes"  # system:public-info-viewer, bound to system:unauthenticated


def test_bootstrap_policy_is_package_data_with_the_default_roles():
    policy = bootstrap_policy()
    names = {role.name for role in policy.roles}
    assert {"cluster-admin", "admin", "edit", "view", "system:node", "system:discovery"} <= names
    assert len(policy.bindings) >= 10


def test_user_objects_replace_the_bootstrap_ones(capsys):
    # default-shape defines its own cluster-admin binding and edit/view roles: no "defined twice".
    code, out, err = run(capsys, "rbac", "can-i", "get", "pods", "-n", "shop", "--as", "carol", "-f", SHAPE, "--with-bootstrap")
    assert (code, out.strip(), err) == (0, "yes", "")


def test_diff_shows_every_lost_permission_or_how_many_more(tmp_path, capsys):
    """A controller that loses four permissions between releases: all four are listed."""
    def release(verbs):
        path = tmp_path / f"{len(verbs)}.yaml"
        path.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: ctl}\nrules:\n"
                        f"- apiGroups: [networking.k8s.io]\n  resources: [ingresses, ingressclasses]\n  verbs: [{verbs}]\n"
                        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ctl}\n"
                        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ctl}\n"
                        "subjects: [{kind: ServiceAccount, name: ctl, namespace: ingress}]\n")
        return str(path)

    old, new = release("get, list, watch, update"), release("get, list")
    code, out, _ = run(capsys, "rbac", "diff", "-f", old, "--to", new)
    assert code == 1 and "4 permissions lost, 0 gained" in out and "ServiceAccount ingress/ctl:" in out
    for lost in ("watch ingresses.networking.k8s.io", "update ingresses.networking.k8s.io",
                 "watch ingressclasses.networking.k8s.io", "update ingressclasses.networking.k8s.io"):
        assert f"lost   cluster-wide: {lost}" in out
    code, out, _ = run(capsys, "rbac", "diff", "-f", old, "--to", new, "--limit", "1")
    assert "... and 3 more changes (4 lost, 0 gained in all); --limit 0 shows every one" in out
    code, out, _ = run(capsys, "rbac", "diff", "-f", old, "--to", new, "--json")
    assert len(json.loads(out)["lost"]) == 4


@pytest.mark.parametrize("argv, warning", [
    (["gett", "pods"], "'gett' is not a known verb"),
    (["get", "podz"], "no resource type 'podz'"),
])
def test_unknown_verbs_and_types_warn_as_kubectl_does(capsys, argv, warning):
    code, out, err = run(capsys, "rbac", "can-i", *argv, "-n", "shop", "--as", "carol", "-f", SHAPE)
    assert out.strip() == "no" and f"kinv: warning: {warning}" in err
    _, _, err = run(capsys, "rbac", "who-can", *argv, "-f", SHAPE)
    assert warning in err


def test_custom_types_and_verbs_the_input_names_are_known(capsys):
    _, _, err = run(capsys, "rbac", "can-i", "get", "applications.argoproj.io", "--as", "x", "-f", ARGOCD,
                    "--default-namespace", "argocd")
    assert err == ""


def test_f_anywhere_and_json_on_every_verb(capsys):
    code, out, _ = run(capsys, "rbac", "can-i", "-f", SHAPE, "get", "pods", "-n", "shop", "--as", "carol", "--json")
    assert code == 0 and json.loads(out)["allowed"] is True
    code, out, _ = run(capsys, "rbac", "who-can", "get", "-f", SHAPE, "pods", "-n", "shop", "--json")
    assert code == 0 and any(s["name"] == "carol" for s in json.loads(out)["subjects"])
    code, out, _ = run(capsys, "rbac", "escalations", "--json", "-f", SHAPE, str(HERE / "escalation-paths.yaml"))
    assert code == 1 and json.loads(out)["findings"]
    code, out, _ = run(capsys, "rbac", "diff", "--to", SHAPE, "--json", "-f", SHAPE)
    assert code == 0 and json.loads(out) == {"same": True, "lost": [], "gained": [], "warnings": []}
    assert paths_last(["-f", "a.yaml", "get", "pods"]) == ["get", "pods", "-f", "a.yaml"]


def test_escalations_exit_0_without_findings(tmp_path, capsys):
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: ns}\n"
                     "rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n")
    code, out, _ = run(capsys, "rbac", "escalations", "-f", str(quiet))
    assert (code, out.strip()) == (0, "no escalation paths found")


def _policy_file(tmp_path, rules: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: r}}\nrules: {rules}\n"
                    "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: r}\n"
                    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"
                    "subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: u}]\n")
    return str(path)


def test_admission_webhooks_are_an_escalation_path_and_patch_on_star_is_not(tmp_path, capsys):
    webhooks = _policy_file(tmp_path, "[{apiGroups: [admissionregistration.k8s.io], "
                                      "resources: [mutatingwebhookconfigurations], verbs: [update]}]")
    code, out, _ = run(capsys, "rbac", "escalations", "-f", webhooks)
    assert code == 1 and "[admission-webhooks] cluster-wide" in out
    patcher = _policy_file(tmp_path, "[{apiGroups: ['*'], resources: ['*'], verbs: [patch]}]")
    _, out, _ = run(capsys, "rbac", "escalations", "-f", patcher)
    assert "[write-bindings]" not in out
    named = _policy_file(tmp_path, "[{apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [patch]}]")
    _, out, _ = run(capsys, "rbac", "escalations", "-f", named)
    assert "[write-bindings]" in out


@pytest.mark.parametrize("name, line", [("role.yaml", ":5: "), ("quoted.yaml", ": RoleBinding shop/")])
def test_unrendered_helm_template_is_one_line_with_a_hint(capsys, name, line):
    code, out, err = run(capsys, "rbac", "can-i", "get", "pods", "--as", "x", "-f", str(HERE / "helm" / name))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert line in err and "unrendered Helm template" in err and "helm template" in err


def test_a_two_megabyte_install_loads_fast(tmp_path):
    """Issue 9: can-i on a 2 MB install took 3-4 s with the pure-Python YAML loader. Only documents
    that can hold RBAC objects are built now (libyaml's parser when PyYAML has it); the bound here
    is loose (shared CI cores), the figure in the closing note is measured on Argo CD's manifest."""
    path = install_manifest(tmp_path, 2_000_000)
    assert path.stat().st_size >= 2_000_000
    started = time.perf_counter()
    loaded = load_manifests([path], "argocd")
    assert time.perf_counter() - started < 1.0
    assert len(loaded.policy.roles) == 9 and len(loaded.policy.bindings) == 9
