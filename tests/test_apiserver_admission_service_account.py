import copy
import random

import pytest
from hypothesis import given

from impl.apiserver.admission.service_account import TOKEN_MOUNT_PATH, ServiceAccount, token_volume
from impl.apiserver.status import ApiError
from tests.test_apiserver_admission_support import FakeLookup, container, pod, pods, request, service_account

LOOKUP = FakeLookup(service_account("ns"), service_account("ns", "builder", automountServiceAccountToken=False),
                    service_account("ns", "puller", imagePullSecrets=[{"name": "registry"}]))


def admit(obj, lookup=LOOKUP, seed=1):
    plugin = ServiceAccount(random.Random(seed))
    attributes = request("pods", obj)
    assert plugin.handles(attributes)
    plugin.admit(attributes, lookup)
    plugin.validate(attributes, lookup)
    return attributes.object


def test_defaults_account_and_mounts_token():
    obj = admit(pod("p", container("app"), initContainers=[container("init")]))
    spec = obj["spec"]
    assert spec["serviceAccountName"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    assert volume == token_volume(volume["name"])
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["path"] == "namespace"
    mount = {"name": volume["name"], "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["initContainers"][0]["volumeMounts"] == [mount]


def test_suffix_comes_from_the_rng():
    names = {admit(pod(), seed=seed)["spec"]["volumes"][0]["name"] for seed in range(5)}
    assert len(names) > 1
    assert admit(pod(), seed=3) == admit(pod(), seed=3)


def test_missing_account_is_forbidden():
    with pytest.raises(ApiError) as refusal:
        admit(pod("p", serviceAccountName="ghost"))
    assert refusal.value.reason == "Forbidden"
    assert refusal.value.message == ('pods "p" is forbidden: error looking up service account ns/ghost: '
                                     'serviceaccount "ghost" not found')


def test_opt_out_on_pod_or_account():
    assert "volumes" not in admit(pod("p", automountServiceAccountToken=False))["spec"]
    assert "volumes" not in admit(pod("p", serviceAccountName="builder"))["spec"]
    # the pod's own setting wins over the account's
    assert admit(pod("p", serviceAccountName="builder", automountServiceAccountToken=True))["spec"]["volumes"]


def test_existing_mount_at_the_path_is_kept():
    own = {"name": "mine", "mountPath": TOKEN_MOUNT_PATH}
    obj = admit(pod("p", container("a", volumeMounts=[own]), container("b")))
    assert obj["spec"]["containers"][0]["volumeMounts"] == [own]
    assert obj["spec"]["containers"][1]["volumeMounts"][0]["mountPath"] == TOKEN_MOUNT_PATH


def test_image_pull_secrets_are_copied_when_pod_has_none():
    assert admit(pod("p", serviceAccountName="puller"))["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    mine = [{"name": "own"}]
    assert admit(pod("p", serviceAccountName="puller", imagePullSecrets=mine))["spec"]["imagePullSecrets"] == mine


def test_mirror_pods_are_left_alone_but_may_not_reference_accounts_or_secrets():
    mirror = pod("static")
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    assert admit(copy.deepcopy(mirror)) == mirror
    with pytest.raises(ApiError, match="a mirror pod may not reference service accounts"):
        admit({**mirror, "spec": {**mirror["spec"], "serviceAccountName": "default"}})
    with pytest.raises(ApiError, match="a mirror pod may not reference secrets"):
        admit({**mirror, "spec": {**mirror["spec"], "volumes": [{"name": "s", "secret": {"secretName": "x"}}]}})


@given(pods())
def test_admit_is_idempotent(generated):
    plugin = ServiceAccount(random.Random(0))
    once = request("pods", copy.deepcopy(generated))
    plugin.admit(once, LOOKUP)
    twice = request("pods", copy.deepcopy(once.object))
    plugin.admit(twice, LOOKUP)
    assert twice.object == once.object
