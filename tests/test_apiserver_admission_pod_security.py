import pytest

from impl.apiserver.admission.pod_security import PodSecurity, checks_for
from impl.apiserver.status import ApiError
from tests.test_apiserver_admission_support import FakeLookup, container, namespace, pod, request

PLUGIN = PodSecurity()


def lookup(level=None):
    labels = {"pod-security.kubernetes.io/enforce": level} if level else {}
    return FakeLookup(namespace("ns", labels))


def validate(obj, level, operation="CREATE", old=None):
    attributes = request("pods", obj, operation, old=old)
    assert PLUGIN.handles(attributes)
    PLUGIN.validate(attributes, lookup(level))


# A restricted-compliant pod, as the Pod Security Standards page describes one.
def restricted_pod(name="ok", **spec):
    secure = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    spec.setdefault("securityContext", {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}})
    return pod(name, container("nginx", securityContext=secure), **spec)


def test_privileged_namespace_allows_anything():
    validate(pod("p", container("c", securityContext={"privileged": True}), hostNetwork=True), None)
    validate(pod("p", container("c", securityContext={"privileged": True})), "privileged")


def test_plain_nginx_under_restricted():
    with pytest.raises(ApiError) as refusal:
        validate(pod("nginx", container("nginx")), "restricted")
    assert refusal.value.reason == "Forbidden"
    assert refusal.value.message == (
        'pods "nginx" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "nginx" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
        '(container "nginx" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
        'container "nginx" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "nginx" '
        'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')


def test_restricted_compliant_pod_passes_everywhere():
    for level in ("baseline", "restricted"):
        validate(restricted_pod(), level)


def test_baseline_host_namespaces_and_privileged():
    bad = pod("p", container("c", securityContext={"privileged": True}), hostNetwork=True, hostPID=True)
    with pytest.raises(ApiError) as refusal:
        validate(bad, "baseline")
    assert refusal.value.message.endswith(
        'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true), privileged '
        '(container "c" must not set securityContext.privileged=true)')


@pytest.mark.parametrize("spec_pod,detail", [
    (pod("p", container("c", securityContext={"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}})),
     'non-default capabilities (container "c" must not include "NET_ADMIN" in securityContext.capabilities.add)'),
    (pod("p", volumes=[{"name": "host", "hostPath": {"path": "/"}}]), 'hostPath volumes (volume "host")'),
    (pod("p", container("c", ports=[{"containerPort": 80, "hostPort": 8080}])),
     'hostPort (container "c" uses hostPort 8080)'),
    (pod("p", securityContext={"seccompProfile": {"type": "Unconfined"}}),
     'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'),
    (pod("p", container("c", securityContext={"procMount": "Unmasked"})),
     'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
    (pod("p", securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"},
                                           {"name": "net.ipv4.tcp_syncookies", "value": "1"}]}),
     "forbidden sysctls (kernel.msgmax)"),
    (pod("p", securityContext={"seLinuxOptions": {"type": "spc_t", "user": "root"}}),
     'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)'),
    (pod("p", container("c", securityContext={"appArmorProfile": {"type": "Unconfined"}})),
     'forbidden AppArmor profile (container "c" must not set AppArmor profile type to "Unconfined")'),
])
def test_baseline_checks(spec_pod, detail):
    with pytest.raises(ApiError) as refusal:
        validate(spec_pod, "baseline")
    assert refusal.value.message.endswith(f'violates PodSecurity "baseline:latest": {detail}')


def test_baseline_allows_default_capabilities_and_safe_sysctls():
    validate(pod("p", container("c", securityContext={"capabilities": {"add": ["CHOWN", "NET_BIND_SERVICE"]}}),
                 securityContext={"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1 2"}]}), "baseline")


@pytest.mark.parametrize("change,detail", [
    ({"volumes": [{"name": "nfs", "nfs": {"server": "x", "path": "/"}}]},
     'restricted volume types (volume "nfs" uses restricted volume type "nfs")'),
    ({"securityContext": {"runAsNonRoot": True, "runAsUser": 0, "seccompProfile": {"type": "Localhost"}}},
     'runAsUser=0 (pod must not set runAsUser=0)'),
    ({"securityContext": {"runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}}},
     "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"),
])
def test_restricted_checks(change, detail):
    with pytest.raises(ApiError) as refusal:
        validate(restricted_pod("p", **change), "restricted")
    assert refusal.value.message.endswith(f'violates PodSecurity "restricted:latest": {detail}')


def test_restricted_capabilities_only_net_bind_service():
    secure = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    ok = pod("p", container("c", securityContext=secure),
             securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}})
    validate(ok, "restricted")
    ok["spec"]["containers"][0]["securityContext"]["capabilities"]["add"].append("CHOWN")
    with pytest.raises(ApiError, match='unrestricted capabilities \\(container "c" must not include "CHOWN"'):
        validate(ok, "restricted")


def test_projected_token_volume_is_allowed_under_restricted():
    validate(restricted_pod("p", volumes=[{"name": "kube-api-access-abcde", "projected": {"sources": []}}]),
             "restricted")


def test_unknown_level_fails_closed():
    with pytest.raises(ApiError, match='"restricted:latest"'):
        validate(pod(), "strict")


def test_updates_checked_only_when_images_change():
    old = pod("p", container("c"))
    bad = pod("p", container("c"))
    bad["metadata"]["labels"] = {"new": "label"}
    validate(bad, "restricted", "UPDATE", old=old)
    bad["spec"]["containers"][0]["image"] = "nginx:2"
    with pytest.raises(ApiError):
        validate(bad, "restricted", "UPDATE", old=old)


def test_restricted_replaces_the_overlapping_baseline_checks():
    ids = [c.id for c in checks_for("restricted")]
    assert "capabilities_baseline" not in ids and "hostPathVolumes" not in ids and "seccompProfile_baseline" not in ids
    assert ids.index("hostNamespaces") < ids.index("allowPrivilegeEscalation")
    assert checks_for("privileged") == []
