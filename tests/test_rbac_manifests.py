"""Loading policy YAML the way kubectl writes it, and one-line errors for bad input."""

from pathlib import Path

import pytest

from impl.apiserver.authz.manifests import ManifestError, load_policy, policy_from_text, policy_to_yaml

HERE = Path(__file__).parent / "rbac"

ROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: ns}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
"""


def test_kind_list_multi_document_and_folders():
    policy = load_policy([HERE / "default-shape"])
    assert len(policy.roles) == 10
    assert len(policy.bindings) == 6
    bootstrap = load_policy([HERE / "bootstrap"])
    assert (len(bootstrap.roles), len(bootstrap.bindings)) == (38, 10)


def test_single_document_and_defaults():
    policy = policy_from_text(ROLE.replace("namespace: ns", "namespace: ''"), "f.yaml")
    assert policy.roles[0].namespace == "default"  # as kubectl apply would place it


def test_other_kinds_are_skipped():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n" + ROLE
    assert len(policy_from_text(text, "f.yaml").roles) == 1


def test_round_trip_through_yaml():
    policy = load_policy([HERE / "default-shape"])
    assert policy_from_text(policy_to_yaml(policy), "again.yaml") == policy


@pytest.mark.parametrize("text, message", [
    (ROLE.replace("  verbs: [get]\n", ""), "f.yaml: Role ns/r: rules[0].verbs: required"),
    (ROLE.replace("  resources: [pods]\n", "  resources: [pods]\n  nonResourceURLs: [/x]\n"),
     "f.yaml: Role ns/r: rules[0].nonResourceURLs: namespaced rules cannot apply to non-resource URLs"),
    (ROLE.replace("name: r,", ""), "f.yaml: Role ns/<unnamed, document 1>: metadata.name is required"),
    ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
     "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n",
     "f.yaml: ClusterRoleBinding b: roleRef.kind must be ClusterRole, got 'Role'"),
    ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
     "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"
     "subjects: [{kind: ServiceAccount, name: sa}]\n",
     "f.yaml: ClusterRoleBinding b: subjects[0].namespace is required for a ServiceAccount in a ClusterRoleBinding"),
    (ROLE + "---\n" + ROLE, "f.yaml: Role ns/r: defined twice"),
    ("- just\n- a list\n", "f.yaml: document 1: expected a mapping, got list"),
])
def test_invalid_objects_are_one_line(text, message):
    with pytest.raises(ManifestError) as error:
        policy_from_text(text, "f.yaml")
    assert str(error.value) == message
    assert "\n" not in str(error.value)


def test_bad_yaml_names_file_and_line():
    with pytest.raises(ManifestError, match=r"bad-yaml.yaml:\d+: invalid YAML"):
        load_policy([HERE / "invalid" / "bad-yaml.yaml"])


def test_missing_path():
    with pytest.raises(ManifestError, match="nope: no such file or folder"):
        load_policy(["nope"])


def test_same_object_in_two_files_is_an_error():
    with pytest.raises(ManifestError, match="roles.yaml: ClusterRole admin: defined twice"):
        load_policy([HERE / "default-shape", HERE / "default-shape" / "roles.yaml"])
