"""Authentication: x509 with CA rotation, the static token file, bound service-account tokens and
their lookup, anonymous requests, and the union's order (``impl.apiserver.authn``)."""

from __future__ import annotations

import random

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.apiserver.authn import (
    CREDENTIAL_ID_KEY, NODE_NAME_KEY, POD_NAME_KEY, POD_UID_KEY, Authenticated, Authentication,
    AuthenticationFailed, CertificateAuthority, ObjectRef, RequestAuthenticator, ServiceAccountIssuer,
    ServiceAccountKeys, SigningKey, StaticTokens, TrustBundle, decode_token,
)
from impl.apiserver.authz.types import UserInfo

ISSUER = "https://kubernetes.default.svc.cluster.local"
KEYS = ServiceAccountKeys(SigningKey("sa-key-1", "sa-secret-1"))
TOKEN_FILE = 'admin-token,admin,uid-1,"system:masters,ops"\nbob-token,bob,uid-2\n'


def server(**changes) -> RequestAuthenticator:
    config = Authentication(trust_bundle=TrustBundle((CA,)), static_tokens=StaticTokens.from_csv(TOKEN_FILE),
                            service_account_keys=KEYS, service_account_issuers=(ISSUER,))
    return RequestAuthenticator(attrs.evolve(config, **changes))


def issuer(keys: ServiceAccountKeys = KEYS, name: str = ISSUER) -> ServiceAccountIssuer:
    return ServiceAccountIssuer(name, keys, random.Random(7))


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {token}"),)


def refused(call) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        call()
    assert caught.value.code == 401
    assert caught.value.message == "Unauthorized"
    return caught.value.audit_reason


CA = CertificateAuthority("kubernetes-ca", "ca-key-1")


# --- x509 --------------------------------------------------------------------------------------

def test_certificate_is_its_common_name_in_its_organizations():
    certificate = CA.issue("alice", ["dev", "ops"], not_before=0, not_after=100)
    who = server().authenticate((), certificate, now=50)
    assert who.user == UserInfo("alice", ("dev", "ops", "system:authenticated"))
    assert who.method == "x509"
    assert dict(who.extra)[CREDENTIAL_ID_KEY] == (f"X509SHA256={certificate.fingerprint()}",)


@pytest.mark.parametrize("now, word", [(101, "after"), (9, "before")])
def test_certificate_outside_its_validity_is_refused(now, word):
    certificate = CA.issue("alice", [], not_before=10, not_after=100)
    reason = refused(lambda: server().authenticate((), certificate, now=now))
    assert f"certificate has expired or is not yet valid: current time {now} is {word}" in reason
    assert server().authenticate((), certificate, now=100).user.name == "alice"  # both ends valid


def test_ca_rotation_trusts_both_during_the_overlap_then_only_the_new():
    old, new = CertificateAuthority("kubernetes-ca", "ca-key-1"), CertificateAuthority("kubernetes-ca-2", "ca-key-2")
    from_old, from_new = old.issue("alice", [], 0, 100), new.issue("bob", [], 0, 100)
    overlap = TrustBundle((old,)).adding(new)
    for certificate, name in ((from_old, "alice"), (from_new, "bob")):
        assert server(trust_bundle=overlap).authenticate((), certificate, 5).user.name == name
    after = overlap.dropping(old)
    assert server(trust_bundle=after).authenticate((), from_new, 5).user.name == "bob"
    reason = refused(lambda: server(trust_bundle=after).authenticate((), from_old, 5))
    assert reason.endswith("x509: certificate signed by unknown authority")


def test_forged_certificates_are_refused():
    forger = CertificateAuthority("kubernetes-ca", "ca-key-1", secret="not-the-ca's")
    tampered = attrs.evolve(CA.issue("alice", [], 0, 100), organizations=("system:masters",))
    for certificate in (forger.issue("mallory", ["system:masters"], 0, 100), tampered):
        reason = refused(lambda: server().authenticate((), certificate, 5))
        assert "verification error" in reason and "\n" not in reason


def test_untrusted_certificate_does_not_stop_a_valid_token():
    """The union does not fail on error: the token's user wins."""
    bad = CertificateAuthority("evil", "evil-key").issue("mallory", [], 0, 100)
    assert server().authenticate(bearer("bob-token"), bad, 5).user.name == "bob"


def test_untrusted_certificate_alone_is_401_not_anonymous():
    bad = CertificateAuthority("evil", "evil-key").issue("mallory", [], 0, 100)
    assert "unknown authority" in refused(lambda: server().authenticate((), bad, 5))


def test_certificate_without_common_name_is_no_credential():
    assert server().authenticate((), CA.issue("", ["dev"], 0, 100), 5).method == "anonymous"


def test_certificate_comes_before_token():
    certificate = CA.issue("alice", [], 0, 100)
    assert server().authenticate(bearer("bob-token"), certificate, 5).user.name == "alice"


# --- static token file -------------------------------------------------------------------------

def test_static_token_is_its_user_with_uid_and_groups():
    who = server().authenticate(bearer("admin-token"), None, 0)
    assert who.user == UserInfo("admin", ("system:masters", "ops", "system:authenticated"))
    assert (who.uid, who.method) == ("uid-1", "token")


def test_token_file_parsing_follows_go_csv():
    text = ('t1,alice,u1,"a,b"\r\n\n"t,2",bob,"u""2"\nt3,carol,u3,\nt1,dave,u4\n,empty,u5\nt6,eve,u6,g,extra')
    tokens = StaticTokens.from_csv(text)
    assert tokens.lookup("t1").name == "dave"  # a repeated token: the later line wins
    assert tokens.lookup("t,2").uid == 'u"2'
    assert tokens.lookup("t3").groups == ("",)  # strings.Split of an empty column
    assert tokens.lookup("") is None
    assert tokens.lookup("t6").groups == ("g",)
    assert StaticTokens.from_csv('t,"multi\nline",u\n').lookup("t").name == "multi\nline"


@pytest.mark.parametrize("text, line, words", [
    ("t1,alice,u1\nt2,bob\n", 2, "at least 3 columns"),
    ('t1,al"ice,u1\n', 1, 'bare "'),
    ('t1,"alice"x,u1\n', 1, 'extraneous or missing "'),
    ('t1,alice,u1\n\nt2,"bob,u2\n', 3, 'extraneous or missing "'),
])
def test_bad_token_file_lines_name_the_line(text, line, words):
    with pytest.raises(ValueError) as caught:
        StaticTokens.from_csv(text)
    message = str(caught.value)
    assert f"line {line}:" in message and words in message and "\n" not in message


def test_unknown_bearer_token_is_401():
    assert refused(lambda: server().authenticate(bearer("nope"), None, 0)) == "invalid bearer token"


def test_bearer_scheme_is_case_insensitive_and_header_names_too():
    assert server().authenticate((("authorization", "bearer bob-token"),), None, 0).user.name == "bob"


# --- service-account tokens --------------------------------------------------------------------

def account(uid: str = "sa-uid", deleted: int | None = None) -> dict:
    metadata = {"name": "builder", "namespace": "ci", "uid": uid}
    if deleted is not None:
        metadata["deletionTimestamp"] = deleted
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def pod(uid: str = "pod-uid", deleted: int | None = None) -> dict:
    body = account(uid, deleted)
    body["kind"], body["metadata"]["name"] = "Pod", "runner"
    return body


def sa_token(now: int = 100, expiration: int = 3600, audiences=(ISSUER,), bound_pod: bool = False, **kw) -> str:
    bound = ObjectRef("runner", "pod-uid") if bound_pod else None
    return issuer(**kw).issue("ci", "builder", "sa-uid", audiences, now, expiration, pod=bound)


def test_service_account_token_is_the_account_in_its_groups():
    who = server().authenticate(bearer(sa_token()), None, 200)
    assert who.user == UserInfo("system:serviceaccount:ci:builder",
                                ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"))
    assert (who.method, who.uid, who.audiences, who.needs_lookup) == ("serviceaccount", "sa-uid", (ISSUER,), True)
    assert dict(who.extra)[CREDENTIAL_ID_KEY] == (f"JTI={who.claims.jti}",)
    assert POD_NAME_KEY not in dict(who.extra)
    server().check_bound_token(who.claims, account(), None, 200)


def test_pod_bound_token_carries_pod_and_node_extras():
    token = issuer().issue("ci", "builder", "sa-uid", [ISSUER], 100, 3600, pod=ObjectRef("runner", "pod-uid"),
                           node=ObjectRef("node-1", "node-uid"))
    extra = dict(server().authenticate(bearer(token), None, 100).extra)
    assert (extra[POD_NAME_KEY], extra[POD_UID_KEY], extra[NODE_NAME_KEY]) == (("runner",), ("pod-uid",), ("node-1",))


def test_token_for_another_audience_is_refused():
    reason = refused(lambda: server().authenticate(bearer(sa_token(audiences=("vault",))), None, 100))
    assert reason == f'token audiences ["vault"] is invalid for the target audiences ["{ISSUER}"]'
    assert server(api_audiences=("vault", "api")).authenticate(bearer(sa_token(audiences=("vault",))), None, 100)


def test_expiry_and_not_before_allow_one_minute_of_skew():
    token = sa_token(now=1000, expiration=600)  # nbf 1000, exp 1600
    assert server().authenticate(bearer(token), None, 1660).user.name.endswith(":builder")
    assert refused(lambda: server().authenticate(bearer(token), None, 1661)) == "service account token has expired"
    assert server().authenticate(bearer(token), None, 940)
    assert refused(lambda: server().authenticate(bearer(token), None, 939)) == "service account token is not valid yet"


def test_token_from_an_untrusted_issuer_is_not_a_service_account_token():
    token = sa_token(name="https://elsewhere")
    assert refused(lambda: server().authenticate(bearer(token), None, 100)) == "invalid bearer token"


def test_token_signed_by_an_untrusted_key_is_refused():
    token = sa_token(keys=ServiceAccountKeys(SigningKey("sa-key-1", "stolen-id-wrong-secret")))
    assert "cryptographic primitive" in refused(lambda: server().authenticate(bearer(token), None, 100))


def test_signing_key_rotation():
    new_key = SigningKey("sa-key-2", "sa-secret-2")
    rotated = KEYS.rotated(new_key)
    old_token, new_token = sa_token(), sa_token(keys=rotated)
    for token in (old_token, new_token):
        assert server(service_account_keys=rotated).authenticate(bearer(token), None, 100)
    retired = rotated.retiring("sa-key-1")
    assert server(service_account_keys=retired).authenticate(bearer(new_token), None, 100)
    refused(lambda: server(service_account_keys=retired).authenticate(bearer(old_token), None, 100))


def test_deleted_account_no_longer_authenticates():
    claims = server().authenticate(bearer(sa_token()), None, 100).claims
    reason = refused(lambda: server().check_bound_token(claims, None, None, 100))
    assert reason == 'serviceaccounts "builder" not found'
    reason = refused(lambda: server().check_bound_token(claims, account(deleted=30), None, 100))
    assert reason == "service account ci/builder has been deleted"
    server().check_bound_token(claims, account(deleted=40), None, 100)  # within the leeway


def test_recreated_account_with_new_uid_is_refused():
    claims = server().authenticate(bearer(sa_token()), None, 100).claims
    reason = refused(lambda: server().check_bound_token(claims, account(uid="new-uid"), None, 100))
    assert reason == "service account UID (new-uid) does not match claim (sa-uid)"


def test_deleted_or_replaced_pod_invalidates_its_token():
    claims = server().authenticate(bearer(sa_token(bound_pod=True)), None, 100).claims
    check = server().check_bound_token
    check(claims, account(), pod(), 100)
    check(claims, account(), pod(deleted=130), 100)  # graceful deletion still running
    for gone in (None, pod(deleted=39)):
        assert refused(lambda: check(claims, account(), gone, 100)) == "service account token has been invalidated"
    reason = refused(lambda: check(claims, account(), pod(uid="other"), 100))
    assert reason == "pod UID (other) does not match service account pod ref claim (pod-uid)"


def test_issuer_rotation_accepts_every_configured_issuer():
    token = sa_token(name="https://old-issuer")
    config = dict(service_account_issuers=(ISSUER, "https://old-issuer"))
    assert server(**config).authenticate(bearer(token), None, 100).user.name.endswith(":builder")


def test_skipping_one_rule_is_one_override():
    class SkipsExpiry(RequestAuthenticator):
        def check_token_expiry(self, claims, now):
            return None

    token = sa_token(now=0, expiration=10)
    refused(lambda: server().authenticate(bearer(token), None, 5000))
    buggy = SkipsExpiry(server().config)
    assert buggy.authenticate(bearer(token), None, 5000).method == "serviceaccount"


# --- anonymous and malformed headers -----------------------------------------------------------

def test_no_credential_is_anonymous_when_enabled():
    who = server().authenticate((), None, 0)
    assert who == Authenticated(UserInfo("system:anonymous", ("system:unauthenticated",)), "anonymous")


def test_no_credential_is_401_when_anonymous_is_off():
    assert "anonymous authentication is disabled" in refused(lambda: server(anonymous=False).authenticate((), None, 0))


def test_invalid_credential_is_never_anonymous():
    refused(lambda: server(anonymous=True).authenticate(bearer("forged"), None, 0))


@pytest.mark.parametrize("value", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer  bob-token", "Token bob-token"])
def test_non_bearer_authorization_is_ignored_as_kube_does(value):
    """kube's bearer authenticator answers "not mine" to any other scheme and to an empty token:
    anonymous when enabled (then authorization decides), 401 when not. Basic auth never logs in."""
    headers = (("Authorization", value),)
    assert server().authenticate(headers, None, 0).method == "anonymous"
    refused(lambda: server(anonymous=False).authenticate(headers, None, 0))


def test_first_authorization_header_counts():
    headers = (("Authorization", "Bearer bob-token"), ("Authorization", "Bearer admin-token"))
    assert server().authenticate(headers, None, 0).user.name == "bob"


# --- properties --------------------------------------------------------------------------------

LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")


@settings(max_examples=60, deadline=None)
@given(namespace=LABEL, name=LABEL, uid=st.uuids().map(str), now=st.integers(0, 10**6))
def test_issued_token_round_trips_to_its_identity(namespace, name, uid, now):
    token = issuer().issue(namespace, name, uid, [ISSUER], now, 600)
    assert token.isascii() and token.isprintable()
    who = server().authenticate(bearer(token), None, now)
    assert who.user.name == f"system:serviceaccount:{namespace}:{name}"
    assert f"system:serviceaccounts:{namespace}" in who.user.groups
    assert (who.uid, who.claims.namespace, who.claims.service_account) == (uid, namespace, ObjectRef(name, uid))
    assert decode_token(token)[1] == who.claims.to_json()


TOKEN = issuer().issue("ci", "builder", "sa-uid", [ISSUER], 100, 3600)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(TOKEN) - 1), replacement=st.characters(min_codepoint=0, max_codepoint=255))
def test_any_single_byte_change_is_refused(position, replacement):
    changed = TOKEN[:position] + replacement + TOKEN[position + 1:]
    if changed == TOKEN:
        return
    refused(lambda: server(anonymous=False).authenticate(bearer(changed), None, 200))
    assert server().authenticate(bearer(TOKEN), None, 200).uid == "sa-uid"
