"""Authentication: who sent a request, from its client certificate and its headers.

Sources: Kubernetes documentation, "Authenticating" (X509 client certificates, Static token file,
Service account tokens, Anonymous requests); k8s.io/apiserver ``pkg/authentication/request/union``,
``request/x509``, ``request/bearertoken``, ``token/union``, ``token/tokenfile``,
``authenticatorfactory``; kubernetes ``pkg/kubeapiserver/authenticator/config.go``,
``pkg/serviceaccount/jwt.go`` and ``claims.go`` (the bound-token validator), go-jose
``jwt.Claims.Validate`` (its one-minute leeway). Cryptography is simulated: a signature is the
signing key's id and an HMAC-SHA256 digest keyed by the key's secret, so only a holder of the
secret can make one, and any changed byte breaks it.

The rules, in the order kube-apiserver applies them:

1. Authenticators form a union that does *not* fail on error: the client certificate first, then
   the bearer token (the static token file, then service-account tokens). The first success wins
   even when an earlier authenticator failed (an untrusted certificate plus a valid token is the
   token's user). When none succeeds, any error makes the request 401 (the errors joined into one
   line for the audit log; the client only reads "Unauthorized").
2. Only when no authenticator succeeded *and* none failed (no credential it recognises) is the
   request anonymous, if ``--anonymous-auth`` is on (the default): ``system:anonymous`` in
   ``system:unauthenticated``. Otherwise 401. An invalid credential is never anonymous.
3. x509: the certificate must be within its validity (``not_before <= now <= not_after``) and
   signed by a CA of the trust bundle (``--client-ca-file``; rotation keeps old and new CA during
   the overlap, then drops the old one). CN is the user, each O a group; extra
   ``authentication.kubernetes.io/credential-id`` is ``X509SHA256=<fingerprint>``. A verified
   certificate with an empty CN is no credential (kube's ``CommonNameUserConversion`` answers
   "not mine", not an error).
4. Bearer: the first ``Authorization`` header, trimmed, split on single spaces; the scheme must be
   ``Bearer`` (any case) and the token non-empty, else the header is *not a bearer credential* and
   is ignored (so ``Basic ...``, removed in 1.19, and ``Bearer`` with no token fall through to
   anonymous, or 401 when anonymous auth is off). A bearer token that no token authenticator
   accepts is 401 "invalid bearer token".
5. Static token file (``--token-auth-file``): CSV ``token,user,uid[,"group1,group2"]``, at least
   three columns; an empty token is skipped; a repeated token: the later line wins.
6. Service-account tokens: a token whose (unverified) issuer is not one of
   ``--service-account-issuer`` is not a service-account token at all. Then: the signature must
   verify with a trusted key (``--service-account-key-file``, several during rotation); the issuer
   must be trusted; one audience must be one of ``--api-audiences`` (default: the first issuer;
   a token without audiences gets the server's); ``nbf``, ``exp`` and ``iat`` are checked with a
   leeway of 60 ticks (go-jose's one minute; a tick is a second here).
7. The bound-token lookup needs store reads, so ``authenticate`` hands back the claims and the
   server calls ``check_bound_token`` with the objects it read: the account must exist, not be
   deleted for longer than the leeway, and have the uid of the claim; a bound pod likewise
   (missing or deleted: "service account token has been invalidated"). kube does this lookup for
   every bound token; ``--service-account-lookup`` only governs legacy Secret tokens (not modelled).
   A service-account user carries uid (the account's), extras ``pod-name``/``pod-uid`` when bound
   to a pod, ``node-name``/``node-uid`` when the pod's node was recorded, and ``credential-id``
   ``JTI=<jti>``.

Groups are assigned by ``identity.Authenticator`` (system:authenticated, the service-account
groups). Each rule is one small method of ``RequestAuthenticator`` so that a catalog bug replaces
exactly one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import attrs

from impl.apiserver.authz.identity import Authenticator, Credential
from impl.apiserver.authz.types import UserInfo
from impl.apiserver.objectmeta import tick_of
from impl.apiserver.status import ApiError

__all__ = [
    "Headers", "Extra", "CREDENTIAL_ID_KEY", "POD_NAME_KEY", "POD_UID_KEY", "NODE_NAME_KEY", "NODE_UID_KEY",
    "LEEWAY_TICKS", "AuthenticationFailed", "CredentialRefused", "Signature", "SigningKey",
    "CertificateAuthority", "ClientCertificate", "TrustBundle", "TokenUser", "StaticTokens", "ObjectRef",
    "BoundClaims", "ServiceAccountKeys", "ServiceAccountIssuer", "encode_token", "decode_token",
    "Authentication", "Authenticated", "RequestAuthenticator", "header_values",
]

Headers = Sequence[tuple[str, str]]
Extra = tuple[tuple[str, tuple[str, ...]], ...]
RequestStep = Callable[[Headers, "ClientCertificate | None", int], "Authenticated | None"]

CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"
LEEWAY_TICKS = 60  # go-jose jwt.DefaultLeeway, one minute
TOKEN_FILE_RECORDS_MAX = 100_000
TOKEN_CHARS_MAX = 16_384
TOKEN_ALGORITHM = "SIM-HS256"  # stands in for RS256: an HMAC keyed by the signing key's secret


class AuthenticationFailed(ApiError):
    """401. The client reads only "Unauthorized" (kube never says why); ``audit_reason`` is the one
    line the audit log keeps (kube's error text, e.g. "service account token has expired")."""

    def __init__(self, audit_reason: str) -> None:
        super().__init__("Unauthorized", "Unauthorized")
        assert "\n" not in audit_reason, "an audit reason is one line"
        self.audit_reason = audit_reason

    def __repr__(self) -> str:
        return f"AuthenticationFailed({self.audit_reason!r})"


class CredentialRefused(Exception):
    """One authenticator's error inside the union (the request may still succeed by another)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of header ``name`` (names are case-insensitive), in order."""
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


# --- simulated signatures -------------------------------------------------------------------

@attrs.frozen
class Signature:
    key_id: str
    digest: str  # hex HMAC-SHA256 over the signed bytes


@attrs.frozen(repr=False)
class SigningKey:
    """A key pair stand-in: ``key_id`` is public, ``secret`` is what only the signer holds."""

    key_id: str
    secret: str

    def sign(self, payload: bytes) -> Signature:
        return Signature(self.key_id, hmac.new(self.secret.encode(), payload, hashlib.sha256).hexdigest())

    def verifies(self, payload: bytes, signature: Signature) -> bool:
        return signature.key_id == self.key_id and hmac.compare_digest(self.sign(payload).digest, signature.digest)

    def __repr__(self) -> str:
        return f"SigningKey({self.key_id!r})"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- x509 --------------------------------------------------------------------------------------

@attrs.frozen
class ClientCertificate:
    """A client certificate as the TLS layer hands it over: subject, issuer, serial, validity
    (ticks, both ends inclusive as Go's ``x509`` checks them) and the issuer's signature."""

    common_name: str
    organizations: tuple[str, ...]
    issuer: str
    serial: int
    not_before: int
    not_after: int
    signature: Signature

    def to_be_signed(self) -> bytes:
        return _canonical({"cn": self.common_name, "o": list(self.organizations), "issuer": self.issuer,
                           "serial": self.serial, "notBefore": self.not_before, "notAfter": self.not_after})

    def fingerprint(self) -> str:
        """SHA-256 over the whole certificate, signature included (the DER's stand-in)."""
        signed = [self.to_be_signed().decode(), self.signature.key_id, self.signature.digest]
        return hashlib.sha256(_canonical(signed)).hexdigest()


@attrs.define(eq=False)
class CertificateAuthority:
    """A CA: its name (the issuer of what it signs) and key. ``secret`` defaults to one derived
    from name and key id; a forger is a CA with the same name and key id but another secret."""

    name: str
    key_id: str
    secret: str = ""
    issued_count: int = 0

    def __attrs_post_init__(self) -> None:
        self.secret = self.secret or f"ca-secret/{self.name}/{self.key_id}"

    @property
    def key(self) -> SigningKey:
        return SigningKey(self.key_id, self.secret)

    def issue(self, common_name: str, organizations: Sequence[str], not_before: int,
              not_after: int) -> ClientCertificate:
        assert not_before <= not_after, "certificate validity is inverted"
        self.issued_count += 1
        unsigned = ClientCertificate(common_name, tuple(organizations), self.name, self.issued_count,
                                     not_before, not_after, Signature(self.key_id, ""))
        return attrs.evolve(unsigned, signature=self.key.sign(unsigned.to_be_signed()))


@attrs.frozen
class TrustBundle:
    """The CAs the server trusts for client certificates (``--client-ca-file``)."""

    authorities: tuple[CertificateAuthority, ...] = ()

    def adding(self, authority: CertificateAuthority) -> "TrustBundle":
        """Rotation, step one: trust the new CA beside the old."""
        return TrustBundle(self.authorities + (authority,))

    def dropping(self, authority: CertificateAuthority) -> "TrustBundle":
        """Rotation, step two: stop trusting the old CA."""
        return TrustBundle(tuple(a for a in self.authorities if a is not authority))

    def candidates(self, certificate: ClientCertificate) -> tuple[CertificateAuthority, ...]:
        """CAs that could have issued it: same name (subject) and key id (authority key id)."""
        return tuple(a for a in self.authorities
                     if a.name == certificate.issuer and a.key_id == certificate.signature.key_id)


# --- static token file -------------------------------------------------------------------------

@attrs.frozen
class TokenUser:
    name: str
    uid: str
    groups: tuple[str, ...] = ()


@attrs.frozen
class StaticTokens:
    """``--token-auth-file``: token -> user. Lookups are exact; the later of two equal tokens wins."""

    users: tuple[tuple[str, TokenUser], ...] = ()

    @classmethod
    def from_csv(cls, text: str) -> "StaticTokens":
        """Parse the file as Go's ``encoding/csv`` reads it (variable columns, RFC 4180 quotes)."""
        users = []
        for count, (line, record) in enumerate(_csv_records(text), start=1):
            if count > TOKEN_FILE_RECORDS_MAX:
                raise ValueError(f"token file line {line}: more than {TOKEN_FILE_RECORDS_MAX} records")
            if len(record) < 3:
                raise ValueError(f"token file line {line}: must have at least 3 columns (token, user name, user uid), "
                                 f"found {len(record)}")
            if record[0] == "":
                continue  # kube warns "empty token has been found" and skips the record
            # strings.Split: an empty fourth column is one group named "", as kube makes it.
            groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
            users.append((record[0], TokenUser(record[1], record[2], groups)))
        return cls(tuple(users))

    def lookup(self, token: str) -> TokenUser | None:
        found = [user for known, user in self.users if known == token]
        return found[-1] if found else None


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per record, as Go's ``encoding/csv`` reads them: blank lines
    skipped; a quote inside an unquoted field, or a quoted field left open or followed by anything
    but a comma or the line's end, is a ValueError naming the line."""
    fields: list[str] = []
    field: list[str] = []
    state, line, start = "start", 1, 1
    normalized = text.replace("\r\n", "\n")
    for char in normalized if normalized.endswith("\n") else normalized + "\n":
        if state == "quoted":
            if char == '"':
                state = "closing"
            else:
                field.append(char)
                line += char == "\n"
            continue
        if state == "closing" and char == '"':  # "" inside quotes is one quote
            field.append('"')
            state = "quoted"
            continue
        if state == "closing" and char not in ",\n":
            raise ValueError(f'token file line {line}: extraneous or missing " in quoted-field')
        if char == '"':
            if state != "start":
                raise ValueError(f'token file line {line}: bare " in non-quoted-field')
            state = "quoted"
            continue
        if char not in ",\n":
            field.append(char)
            state = "plain"
            continue
        fields.append("".join(field))
        if char == "\n" and (fields != [""] or state != "start"):
            yield start, fields
        if char == "\n":
            fields, line = [], line + 1
            start = line
        field, state = [], "start"
    if state == "quoted":
        raise ValueError(f'token file line {start}: extraneous or missing " in quoted-field')


# --- service-account tokens --------------------------------------------------------------------

@attrs.frozen
class ObjectRef:
    name: str
    uid: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> "ObjectRef":
        metadata = obj.get("metadata", {})
        return cls(metadata.get("name", ""), metadata.get("uid", ""))


@attrs.frozen
class BoundClaims:
    """The claims of a bound service-account token (``pkg/serviceaccount/claims.go``): public
    ``iss``, ``sub``, ``aud``, ``iat``, ``nbf``, ``exp``, ``jti`` (ticks for times) and the private
    ``kubernetes.io`` claim with the namespace, the account and the pod (and its node) bound."""

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    issued_at: int
    not_before: int
    expires_at: int
    jti: str
    namespace: str
    service_account: ObjectRef
    pod: ObjectRef | None = None
    node: ObjectRef | None = None

    def to_json(self) -> dict[str, Any]:
        private: dict[str, Any] = {"namespace": self.namespace, "serviceaccount": attrs.asdict(self.service_account)}
        for key, ref in (("pod", self.pod), ("node", self.node)):
            if ref is not None:
                private[key] = attrs.asdict(ref)
        return {"iss": self.issuer, "sub": self.subject, "aud": list(self.audiences), "iat": self.issued_at,
                "nbf": self.not_before, "exp": self.expires_at, "jti": self.jti, "kubernetes.io": private}

    @classmethod
    def from_json(cls, claims: dict[str, Any]) -> "BoundClaims":
        """Raises KeyError/TypeError/ValueError on a malformed claim set."""
        private = claims["kubernetes.io"]
        refs = {key: ObjectRef(str(private[key]["name"]), str(private[key]["uid"]))
                for key in ("pod", "node") if key in private}
        times = [claims[key] for key in ("iat", "nbf", "exp")]
        if not all(type(t) is int for t in times):
            raise ValueError("times are not integers")
        return cls(str(claims["iss"]), str(claims["sub"]), tuple(str(a) for a in claims["aud"]), *times,
                   str(claims.get("jti", "")), str(private["namespace"]),
                   ObjectRef(str(private["serviceaccount"]["name"]), str(private["serviceaccount"]["uid"])),
                   refs.get("pod"), refs.get("node"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    """Strict base64url without padding: the one encoding of the bytes, else None."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None


def encode_token(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    """JWS compact serialisation: header.payload.signature, the signature over the first two."""
    signing_input = f"{_b64(_canonical(header))}.{_b64(_canonical(claims))}"
    return f"{signing_input}.{_b64(bytes.fromhex(key.sign(signing_input.encode()).digest))}"


def decode_token(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, Signature] | None:
    """(header, claims, signing input, signature), unverified; None when it is no such token."""
    parts = token.split(".")
    if len(token) > TOKEN_CHARS_MAX or len(parts) != 3:
        return None
    decoded = [_unb64(part) for part in parts]
    if any(d is None for d in decoded):
        return None
    try:
        header, claims = json.loads(decoded[0]), json.loads(decoded[1])  # type: ignore[arg-type]
    except (ValueError, UnicodeDecodeError):
        return None
    if not (isinstance(header, dict) and isinstance(claims, dict) and isinstance(header.get("kid"), str)):
        return None
    signature = Signature(header["kid"], decoded[2].hex())  # type: ignore[union-attr]
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


@attrs.frozen
class ServiceAccountKeys:
    """``--service-account-signing-key-file`` (``signing``) and ``--service-account-key-file``
    (``verifying``: every public key accepted; during rotation the old and the new)."""

    signing: SigningKey
    verifying: tuple[SigningKey, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.signing not in self.verifying:
            object.__setattr__(self, "verifying", self.verifying + (self.signing,))

    def rotated(self, new_signing: SigningKey) -> "ServiceAccountKeys":
        """Sign with the new key; keep accepting tokens the old one signed."""
        return ServiceAccountKeys(new_signing, self.verifying)

    def retiring(self, key_id: str) -> "ServiceAccountKeys":
        """Stop accepting tokens signed by ``key_id`` (not the current signing key)."""
        assert key_id != self.signing.key_id, "cannot retire the signing key"
        return ServiceAccountKeys(self.signing, tuple(k for k in self.verifying if k.key_id != key_id))


@attrs.define
class ServiceAccountIssuer:
    """The TokenRequest signer: ``--service-account-issuer`` and the signing key. ``rng`` makes
    each token's ``jti`` (a UUID in kube)."""

    issuer: str
    keys: ServiceAccountKeys
    rng: random.Random

    def issue(self, namespace: str, sa_name: str, sa_uid: str, audiences: Sequence[str], now: int,
              expiration_ticks: int, pod: ObjectRef | None = None, node: ObjectRef | None = None) -> str:
        assert expiration_ticks > 0, "a token must expire"
        assert node is None or pod is not None, "node binding is modelled only as a bound pod's node"
        claims = BoundClaims(self.issuer, f"system:serviceaccount:{namespace}:{sa_name}", tuple(audiences),
                             now, now, now + expiration_ticks, str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                             namespace, ObjectRef(sa_name, sa_uid), pod, node)
        header = {"alg": TOKEN_ALGORITHM, "kid": self.keys.signing.key_id}
        return encode_token(header, claims.to_json(), self.keys.signing)


# --- configuration and result ------------------------------------------------------------------

@attrs.frozen
class Authentication:
    """The server's authentication flags. ``api_audiences`` empty means the first issuer."""

    trust_bundle: TrustBundle | None = None
    static_tokens: StaticTokens | None = None
    service_account_keys: ServiceAccountKeys | None = None
    service_account_issuers: tuple[str, ...] = ()
    api_audiences: tuple[str, ...] = ()
    anonymous: bool = True
    leeway_ticks: int = LEEWAY_TICKS

    @property
    def audiences(self) -> tuple[str, ...]:
        return self.api_audiences or self.service_account_issuers[:1]


@attrs.frozen
class Authenticated:
    """Who the request is. ``method`` is one of ``identity.CREDENTIAL_KINDS``; ``claims`` is set
    for a service-account token and still needs ``check_bound_token`` before the request goes on."""

    user: UserInfo
    method: str
    uid: str = ""
    extra: Extra = ()
    claims: BoundClaims | None = None
    audiences: tuple[str, ...] = ()

    @property
    def needs_lookup(self) -> bool:
        return self.claims is not None


def _aggregate(reasons: list[str]) -> str:
    """Go's ``utilerrors.NewAggregate`` text: one error as is, several in brackets."""
    return reasons[0] if len(reasons) == 1 else f"[{', '.join(reasons)}]"


def _quoted_list(values: Sequence[str]) -> str:
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


class RequestAuthenticator:
    """kube-apiserver's authenticator chain over an ``Authentication`` configuration (the reference)."""

    def __init__(self, config: Authentication, identities: Authenticator | None = None) -> None:
        self.config = config
        self.identities = identities or Authenticator()

    def authenticate(self, headers: Headers, client_certificate: ClientCertificate | None, now: int) -> Authenticated:
        reasons: list[str] = []
        for step in self.request_authenticators():
            try:
                result = step(headers, client_certificate, now)
            except CredentialRefused as refused:
                reasons.append(refused.reason)
                continue
            if result is not None:
                return result
        if reasons:
            raise AuthenticationFailed(_aggregate(reasons))
        return self.no_credential()

    def request_authenticators(self) -> tuple[RequestStep, ...]:
        """The union's members, in kube-apiserver's order."""
        return (lambda h, c, n: self.x509(c, n), lambda h, c, n: self.bearer(h, n))

    def no_credential(self) -> Authenticated:
        if not self.config.anonymous:
            raise AuthenticationFailed("no credential was presented and anonymous authentication is disabled")
        return Authenticated(self.identities.authenticate(Credential("anonymous")), "anonymous")

    # x509
    def x509(self, certificate: ClientCertificate | None, now: int) -> Authenticated | None:
        if certificate is None or self.config.trust_bundle is None:
            return None
        problem = self.certificate_time_problem(certificate, now) or self.certificate_trust_problem(certificate)
        if problem:
            raise CredentialRefused(f"verifying certificate SN={certificate.serial}, "
                                    f"AKID={certificate.signature.key_id} failed: x509: {problem}")
        if not certificate.common_name:
            return None
        credential = Credential("x509", certificate.common_name, groups=certificate.organizations)
        extra = ((CREDENTIAL_ID_KEY, (f"X509SHA256={certificate.fingerprint()}",)),)
        return Authenticated(self.identities.authenticate(credential), "x509", extra=extra)

    def certificate_time_problem(self, certificate: ClientCertificate, now: int) -> str:
        if now < certificate.not_before:
            return f"certificate has expired or is not yet valid: current time {now} is before {certificate.not_before}"
        if now > certificate.not_after:
            return f"certificate has expired or is not yet valid: current time {now} is after {certificate.not_after}"
        return ""

    def certificate_trust_problem(self, certificate: ClientCertificate) -> str:
        assert self.config.trust_bundle is not None
        candidates = self.config.trust_bundle.candidates(certificate)
        if any(ca.key.verifies(certificate.to_be_signed(), certificate.signature) for ca in candidates):
            return ""
        if candidates:
            return (f'certificate signed by unknown authority (possibly because of "verification error" while '
                    f'trying to verify candidate authority certificate "{certificate.issuer}")')
        return "certificate signed by unknown authority"

    # bearer tokens
    def bearer(self, headers: Headers, now: int) -> Authenticated | None:
        token = self.bearer_token(headers)
        if token is None:
            return None
        reasons: list[str] = []
        for step in (self.static_token, self.service_account_token):
            try:
                result = step(token, now)
            except CredentialRefused as refused:
                reasons.append(refused.reason)
                continue
            if result is not None:
                return result
        raise CredentialRefused(_aggregate(reasons) if reasons else "invalid bearer token")

    def bearer_token(self, headers: Headers) -> str | None:
        """The token of ``Authorization: Bearer <token>``; None when the header is absent or is not
        a bearer credential (another scheme, no token): kube then ignores it."""
        values = header_values(headers, "Authorization")
        parts = values[0].strip().split(" ", 2) if values else []
        if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
            return None
        return parts[1]

    def static_token(self, token: str, now: int) -> Authenticated | None:
        found = self.config.static_tokens.lookup(token) if self.config.static_tokens else None
        if found is None:
            return None
        user = self.identities.authenticate(Credential("token", found.name, groups=found.groups))
        return Authenticated(user, "token", uid=found.uid)

    def service_account_token(self, token: str, now: int) -> Authenticated | None:
        decoded = decode_token(token) if self.config.service_account_keys else None
        if decoded is None or decoded[1].get("iss") not in self.config.service_account_issuers:
            return None  # not a service-account token: kube's hasCorrectIssuer
        header, raw_claims, signing_input, signature = decoded
        self.check_token_signature(signing_input, signature)
        claims = self.parse_claims(raw_claims)
        self.check_token_issuer(claims)
        audiences = self.check_token_audiences(claims)
        self.check_token_not_before(claims, now)
        self.check_token_expiry(claims, now)
        self.check_token_issued_at(claims, now)
        return self.service_account_user(claims, audiences)

    def check_token_signature(self, signing_input: bytes, signature: Signature) -> None:
        assert self.config.service_account_keys is not None
        if not any(key.verifies(signing_input, signature) for key in self.config.service_account_keys.verifying):
            raise CredentialRefused("square/go-jose: error in cryptographic primitive")

    def parse_claims(self, raw_claims: dict[str, Any]) -> BoundClaims:
        try:
            return BoundClaims.from_json(raw_claims)
        except (KeyError, TypeError, ValueError):
            raise CredentialRefused("service account token claims could not be validated due to unexpected "
                                    "private claim")

    def check_token_issuer(self, claims: BoundClaims) -> None:
        if claims.issuer not in self.config.service_account_issuers:
            raise CredentialRefused(f"token issuer {json.dumps(claims.issuer)} is invalid")

    def check_token_audiences(self, claims: BoundClaims) -> tuple[str, ...]:
        wanted = self.config.audiences
        offered = claims.audiences or wanted  # a token without audiences is the server's own
        matched = tuple(a for a in offered if a in wanted)
        if not matched and wanted:
            raise CredentialRefused(f"token audiences {_quoted_list(offered)} is invalid for the target audiences "
                                    f"{_quoted_list(wanted)}")
        return matched

    def check_token_not_before(self, claims: BoundClaims, now: int) -> None:
        if now + self.config.leeway_ticks < claims.not_before:
            raise CredentialRefused("service account token is not valid yet")

    def check_token_expiry(self, claims: BoundClaims, now: int) -> None:
        if now - self.config.leeway_ticks > claims.expires_at:
            raise CredentialRefused("service account token has expired")

    def check_token_issued_at(self, claims: BoundClaims, now: int) -> None:
        if now + self.config.leeway_ticks < claims.issued_at:
            raise CredentialRefused("service account token claims could not be validated due to unexpected "
                                    "validation error")

    def service_account_user(self, claims: BoundClaims, audiences: tuple[str, ...]) -> Authenticated:
        credential = Credential("serviceaccount", claims.service_account.name, claims.namespace)
        return Authenticated(self.identities.authenticate(credential), "serviceaccount",
                             uid=claims.service_account.uid, extra=self.service_account_extra(claims),
                             claims=claims, audiences=audiences)

    def service_account_extra(self, claims: BoundClaims) -> Extra:
        extra: list[tuple[str, tuple[str, ...]]] = []
        if claims.pod is not None and claims.pod.name and claims.pod.uid:
            extra += [(POD_NAME_KEY, (claims.pod.name,)), (POD_UID_KEY, (claims.pod.uid,))]
        if claims.jti:
            extra.append((CREDENTIAL_ID_KEY, (f"JTI={claims.jti}",)))
        if claims.node is not None and claims.node.name:
            extra.append((NODE_NAME_KEY, (claims.node.name,)))
            extra += [(NODE_UID_KEY, (claims.node.uid,))] if claims.node.uid else []
        return tuple(extra)

    # the bound-token lookup
    def check_bound_token(self, claims: BoundClaims, service_account: dict[str, Any] | None,
                          pod: dict[str, Any] | None, now: int) -> None:
        """Raise AuthenticationFailed unless the account (and the bound pod) the token names still
        exist as the same objects. The server reads both from its store and passes them here."""
        try:
            self.check_service_account_current(claims, service_account, now)
            if claims.pod is not None:
                self.check_pod_current(claims, pod, now)
        except CredentialRefused as refused:
            raise AuthenticationFailed(refused.reason) from None

    def check_service_account_current(self, claims: BoundClaims, service_account: dict[str, Any] | None,
                                      now: int) -> None:
        where = f"{claims.namespace}/{claims.service_account.name}"
        if service_account is None:
            raise CredentialRefused(f'serviceaccounts "{claims.service_account.name}" not found')
        if self.deleted_before_leeway(service_account, now):
            raise CredentialRefused(f"service account {where} has been deleted")
        uid = ObjectRef.of(service_account).uid
        if uid != claims.service_account.uid:
            raise CredentialRefused(f"service account UID ({uid}) does not match claim ({claims.service_account.uid})")

    def check_pod_current(self, claims: BoundClaims, pod: dict[str, Any] | None, now: int) -> None:
        assert claims.pod is not None
        if pod is None or self.deleted_before_leeway(pod, now):
            raise CredentialRefused("service account token has been invalidated")
        uid = ObjectRef.of(pod).uid
        if uid != claims.pod.uid:
            raise CredentialRefused(f"pod UID ({uid}) does not match service account pod ref claim ({claims.pod.uid})")

    def deleted_before_leeway(self, obj: dict[str, Any], now: int) -> bool:
        """kube counts an object as deleted once its deletionTimestamp is more than the leeway in
        the past: a pod in its grace period still authenticates its tokens."""
        stamp = obj.get("metadata", {}).get("deletionTimestamp")
        if stamp is None:
            return False
        try:
            tick = stamp if type(stamp) is int else tick_of(str(stamp))
        except ValueError:
            return True  # a timestamp the server did not write: treat the object as going
        return tick < now - self.config.leeway_ticks

