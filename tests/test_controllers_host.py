"""The controller host (impl/controllers/host.py) on the apiserver harness's world: two candidate
controller-manager processes u2 and u3 elect a leader through a Lease; the leader's informers feed
its reconcilers' workqueues, and its reconciles write through the API server instances. Every
apiserver invariant judges the hosts' traffic (``cluster.violation`` stays None)."""

from __future__ import annotations

from checks.apiserver.cluster import ApiCluster
from impl.controllers.api import Request, Result, Watch
from impl.controllers.host import ControllerHost, HostConfig
from impl.controllers.leaderelection import ElectionConfig
from tests.controllers_world import hosted_cluster, run_hosted_until, stored

HOSTS = ("u2", "u3")


def _namespace_of(obj, cache):
    return [Request("", obj["metadata"]["namespace"])]


class Greeter:
    """Keeps a ConfigMap ``hello`` in every active namespace, and then a ``hello-ack`` beside it:
    two writes per reconcile, so a crash can fall between them."""

    name = "greeter"
    watches = (Watch("namespaces"), Watch("configmaps", enqueue=_namespace_of))

    def reconcile(self, request, cache, client):
        namespace = cache.get("namespaces", "", request.name)
        if namespace is None or namespace.get("status", {}).get("phase") != "Active":
            return Result()
        for name in ("hello", "hello-ack"):
            if cache.get("configmaps", request.name, name) is None:
                answer = yield client.create("configmaps", {
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": request.name}})
                if not (answer.ok or answer.already_exists):
                    return Result(requeue=True)
        return Result()


def _cluster(config: HostConfig = HostConfig(election=ElectionConfig(), lease_namespace="ns2")) -> ApiCluster:
    return hosted_cluster((Greeter(),), hosts=HOSTS, config=config)


_run_until = run_hosted_until


def _host(cluster: ApiCluster, host_id: str) -> ControllerHost:
    return cluster.world.nodes[host_id]


def _stored_configmaps(cluster: ApiCluster) -> set[str]:
    return set(stored(cluster, "configmaps"))


GREETINGS = {"ns1/hello", "ns1/hello-ack", "ns2/hello", "ns2/hello-ack"}


def _creates(cluster: ApiCluster, host_id: str) -> list[str]:
    """ConfigMap creates the host made that succeeded (a reconcile run on a cache that has not
    seen its own last create yet tries again and gets AlreadyExists, as real controllers do)."""
    return [c.request.path for c in cluster.api_log.calls
            if c.client == host_id and c.request.method == "POST" and "/configmaps" in c.request.path
            and c.response is not None and c.response.code == 201]


def test_one_candidate_leads_and_only_the_leader_reconciles():
    cluster = _cluster()
    _run_until(cluster, lambda: any(_host(cluster, h).running and _host(cluster, h).quiet() for h in HOSTS))
    leader = next(h for h in HOSTS if _host(cluster, h).running)
    standby = next(h for h in HOSTS if h != leader)
    _run_until(cluster, lambda: GREETINGS <= _stored_configmaps(cluster))
    assert len(_creates(cluster, leader)) == len(GREETINGS)
    assert _creates(cluster, standby) == []
    assert not _host(cluster, standby).running


def test_a_crashed_leader_is_replaced_after_the_lease_and_the_new_one_converges():
    cluster = _cluster()
    _run_until(cluster, lambda: any(_host(cluster, h).running for h in HOSTS))
    leader = next(h for h in HOSTS if _host(cluster, h).running)
    other = next(h for h in HOSTS if h != leader)
    # Crash the leader between the two writes of a reconcile: hello is written, hello-ack not.
    _run_until(cluster, lambda: _host(cluster, leader).mid_reconcile_writers())
    crashed_at = cluster.world.now
    cluster.world.crash(leader)
    took = _run_until(cluster, lambda: _host(cluster, other).running)
    assert took >= ElectionConfig().lease_duration_ticks - 2  # waits out the lease on its own clock
    assert GREETINGS - _stored_configmaps(cluster), "the crash left the reconcile half done"
    _run_until(cluster, lambda: _host(cluster, other).quiet() and GREETINGS <= _stored_configmaps(cluster))
    assert cluster.world.now - crashed_at < 60


def test_a_host_that_lost_its_lease_comes_back_with_fresh_reconcilers():
    """kube-controller-manager exits on a lost lease: nothing a reconciler kept in memory (a
    ReplicaSet's expectations, a scheduler's assumed pods) survives into its next term."""
    cluster = _cluster()
    _run_until(cluster, lambda: any(_host(cluster, h).running for h in HOSTS))
    leader = _host(cluster, next(h for h in HOSTS if _host(cluster, h).running))
    before = leader.reconcilers[0]
    before.remembered = "something"
    leader._lose_leadership()
    assert not leader.running and leader.reconcilers[0] is not before
    assert not hasattr(leader.reconcilers[0], "remembered")


class Batcher:
    """Creates three ConfigMaps in ns2 in one batch and keeps the answers it got."""

    name = "batcher"
    watches = (Watch("namespaces"),)

    def __init__(self) -> None:
        self.answers = []

    def reconcile(self, request, cache, client):
        if request.name != "ns2" or self.answers:
            return Result()
        calls = tuple(client.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": name, "namespace": "ns2"}})
                      for name in ("b1", "c2", "b3"))  # c2 exists in the seed: AlreadyExists
        self.answers = list((yield calls))
        return Result()


def test_a_batch_of_calls_goes_out_together_and_answers_come_back_in_order():
    batcher = Batcher()
    cluster = hosted_cluster((batcher,))
    run_hosted_until(cluster, lambda: len(batcher.answers) == 3)
    assert [a.code for a in batcher.answers] == [201, 409, 201]
    sent = [c for c in cluster.api_log.calls if c.client == "u2" and c.request.method == "POST"]
    assert len({c.started for c in sent}) == 1  # all three left in the same tick
    assert {"ns2/b1", "ns2/b3"} <= set(stored(cluster, "configmaps"))
