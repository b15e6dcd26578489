"""Who authentication says a request is (RBAC-IDENTITY-GROUPS), and every property on generated worlds."""

import pytest

from checks.cli import main
from checks.rbac.area import search_generated
from checks.rbac.components import Components
from checks.rbac.privileges import check_identity, credentials
from checks.rbac.world import sample_world
from impl.apiserver.authz.identity import Authenticator, Credential, credential_for
from impl.catalog import all_bugs, bug_by_name
from spec.rbac.identity import expected_identity
from spec.rbac.invariants import identity_groups


@pytest.mark.parametrize("credential, user, groups", [
    (Credential("x509", "alice", groups=("devs",)), "alice", {"devs", "system:authenticated"}),
    (Credential("token", "bob"), "bob", {"system:authenticated"}),
    (Credential("serviceaccount", "ci", "shop"), "system:serviceaccount:shop:ci",
     {"system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"}),
    (Credential("anonymous"), "system:anonymous", {"system:unauthenticated"}),
])
def test_each_kind_of_identity_gets_exactly_its_groups(credential, user, groups):
    got = Authenticator().authenticate(credential)
    assert (got.name, set(got.groups)) == (user, groups)
    assert expected_identity(credential.kind, credential.name, credential.namespace, credential.groups) == (user, groups)


def test_kubectl_as_names_map_to_their_credentials():
    assert credential_for("system:serviceaccount:ns:sa").kind == "serviceaccount"
    assert credential_for("system:anonymous").kind == "anonymous"
    assert credential_for("system:serviceaccount:broken").kind == "token"  # not a service account name


def test_predicate_names_the_missing_and_the_extra_group():
    wrong = [("serviceaccount", "ci", "shop", (), "token of ci", "system:serviceaccount:shop:ci",
              ("system:serviceaccounts", "system:serviceaccounts:other", "system:authenticated"))]
    [message] = identity_groups(wrong)
    assert "missing system:serviceaccounts:shop" in message and "extra system:serviceaccounts:other" in message


def test_the_grid_covers_every_kind_and_the_reference_holds():
    world = sample_world()
    assert {c.kind for c in credentials(world)} == {"x509", "token", "serviceaccount", "anonymous"}
    assert check_identity(world, Components()) is None


@pytest.mark.parametrize("name", ["anonymous-in-authenticated-group", "impersonate-users-in-namespace"])
def test_kinv_check_rbac_finds_the_bug(capsys, tmp_path, name):
    code = main(["check", "rbac", "--bug", name, "--budget", "2", "--report", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 1 and bug_by_name(name).invariant in out
    assert bug_by_name(name).invariant in (tmp_path / "r" / "report.md").read_text()


PROPERTY_BUGS = [b.name for b in all_bugs("rbac") if b.invariant != "RBAC-MATCHES-MODEL"]


@pytest.mark.parametrize("name", PROPERTY_BUGS)
def test_generated_worlds_alone_find_every_property_bug(name):
    """Issue 12: every property runs on the generated worlds, not only on the sample one."""
    bug = bug_by_name(name)
    examples, found = search_generated(Components.with_bug(bug), 60, seed=1, shrink=False)
    assert found is not None and found.invariant == bug.invariant, (name, examples)


def test_reference_holds_on_generated_worlds():
    assert search_generated(Components(), 25, seed=2)[1] is None
