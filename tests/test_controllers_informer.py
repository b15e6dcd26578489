"""The controller's connection and informer against the reference API server instances on the
simulated world (``tests/controllers_world.py``): one store member, instances a1 and a2, the
writer u1, and the informer host u2. Every apiserver invariant judges the host's traffic after
every command, so each test ends with ``cluster.violation is None``."""

from __future__ import annotations

from collections import Counter

from checks.apiserver.cluster import WATCH_CACHE_EVENTS
from impl.apiserver.client import ClientConfig
from impl.apiserver.messages import ApiRequest, ApiResponse, WatchEvent
from impl.apiserver.status import ApiError
from impl.controllers.connection import REFUSED, SILENT, UNKNOWN_CODE, WatchEnded
from impl.controllers.informer import Handler, Informer, InformerConfig
from tests.controllers_world import CONTROLLER, ControllerCluster

CONFIGMAPS = "/api/v1/configmaps"
NS2 = "/api/v1/namespaces/ns2/configmaps"  # ns1 has a quota of 4 configmaps
CONNECTION = ClientConfig(request_timeout_ticks=20, watch_silence_ticks=30)


def _cache(informer: Informer) -> dict[str, tuple[str, str]]:
    return {key: (obj["metadata"]["resourceVersion"], obj["metadata"]["uid"])
            for key, obj in zip(informer.indexer.keys(), informer.indexer.list())}


def _synced(config: InformerConfig = InformerConfig(), connection: ClientConfig = CONNECTION):
    cluster = ControllerCluster()
    informer = cluster.start_informer(CONFIGMAPS, config, connection)
    cluster.run_until(lambda: informer.has_synced)
    return cluster, informer


def _settled(cluster: ControllerCluster, informer: Informer) -> dict[str, tuple[str, str]]:
    """Wait until the cache holds what a consistent list holds; that list."""
    truth = cluster.truth(CONFIGMAPS)
    cluster.run_until(lambda: _cache(informer) == truth)
    return truth


def _host_calls(cluster: ControllerCluster):
    return [c for c in cluster.api_log.calls if c.client == CONTROLLER]


def _host_streams(cluster: ControllerCluster):
    return [s for s in cluster.api_log.streams if s.client == CONTROLLER]


def _rv(response: ApiResponse) -> str:
    return response.body["metadata"]["resourceVersion"]


def test_first_list_from_the_watch_cache_then_events_as_adds_updates_and_deletes():
    cluster, informer = _synced()
    first = _host_calls(cluster)[0]
    assert first.request.query_value("resourceVersion") == "0"
    assert first.request.query_value("limit") == "500"  # the cache ignores it for "0"
    stream = _host_streams(cluster)[0]
    assert stream.from_revision == int(first.response.body["metadata"]["resourceVersion"])
    assert stream.request.query_value("allowWatchBookmarks") == "true"
    assert _cache(informer) == cluster.truth(CONFIGMAPS)
    assert [(what, key) for what, key, _ in cluster.host.seen] == [("add", "ns1/c1"), ("add", "ns2/c2")]
    assert informer.indexer.by_namespace("ns2")[0]["metadata"]["name"] == "c2"

    created = cluster.write("POST", NS2, {"metadata": {"name": "x"}})
    body = {"metadata": {"name": "x", "resourceVersion": _rv(created)}, "data": {"k": "v"}}
    updated = cluster.write("PUT", f"{NS2}/x", body)
    cluster.write("DELETE", f"{NS2}/x")
    _settled(cluster, informer)
    uid = created.body["metadata"]["uid"]
    assert cluster.host.seen[2:] == [
        ("add", "ns2/x", (_rv(created), uid)),
        ("update", "ns2/x", (_rv(created), uid), (_rv(updated), uid)),
        ("delete", "ns2/x", (str(informer.resource_version), uid)),
    ]
    assert cluster.violation is None


def test_the_owner_index_finds_dependents_by_uid():
    cluster, informer = _synced()
    owner = cluster.write("GET", "/api/v1/namespaces/ns2/configmaps/c2").body["metadata"]
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "c2", "uid": owner["uid"]}
    cluster.write("POST", NS2, {"metadata": {"name": "child", "ownerReferences": [reference]}})
    _settled(cluster, informer)
    assert [obj["metadata"]["name"] for obj in informer.indexer.by_owner_uid(owner["uid"])] == ["child"]
    cluster.write("DELETE", f"{NS2}/child")
    _settled(cluster, informer)
    assert informer.indexer.by_owner_uid(owner["uid"]) == []


def _drop_next_event(cluster: ControllerCluster) -> WatchEvent:
    """Tick until a watch event (not a bookmark) is on its way to the host; lose it."""
    for _ in range(50):
        for envelope in cluster.world.network.in_flight:
            message = envelope.message
            if envelope.dst == CONTROLLER and isinstance(message, WatchEvent) and message.type != "BOOKMARK":
                cluster.world.drop(envelope)
                return message
        cluster.world.tick()
    raise AssertionError("no watch event to lose")


def test_a_cut_watch_resumes_from_the_last_resource_version_without_duplicates_or_gaps():
    cluster, informer = _synced()
    before = informer.resource_version
    cluster.request("create y1", "u1", "admin", "POST", NS2, body={"metadata": {"name": "y1"}})
    lost = _drop_next_event(cluster)  # the stream breaks: the next event comes out of sequence
    cluster.settle()
    written = [cluster.write("POST", NS2, {"metadata": {"name": "y2"}})]
    cluster.run_until(lambda: informer.resource_version >= int(_rv(written[0])))
    cluster.partition([[CONTROLLER], ["a1"]])  # the watch on a1 goes silent: the host moves to a2
    written += [cluster.write("POST", NS2, {"metadata": {"name": name}}) for name in ("y3", "y4")]
    cluster.run_until(lambda: informer.resource_version >= int(_rv(written[-1])))
    cluster.heal()
    _settled(cluster, informer)

    streams = _host_streams(cluster)
    assert [s.from_revision for s in streams[:2]] == [before, before]  # resumed before the lost event
    assert streams[-1].instance == "a2" and streams[-1].from_revision == int(_rv(written[0]))
    assert len(_host_calls(cluster)) == 1  # one list: resuming a watch never lists
    observed = [(what, key, states[-1]) for what, key, *states in cluster.host.seen]
    assert all(count == 1 for count in Counter(observed).values()), observed
    added = {state[0] for what, _, state in observed if what == "add"}
    assert {lost.object["metadata"]["resourceVersion"]} | {_rv(r) for r in written} <= added
    assert cluster.violation is None


def _outgrow_the_watch_cache_window(cluster: ControllerCluster) -> None:
    for i in range(WATCH_CACHE_EVENTS + 1):
        cluster.write("POST", NS2, {"metadata": {"name": f"k{i}"}})


def test_410_relists_at_the_last_resource_version_a_missed_delete_is_a_tombstone_and_a_recreate_an_update():
    cluster, informer = _synced()
    before = informer.resource_version
    old_uid = _cache(informer)["ns1/c1"][1]
    cluster.partition([[CONTROLLER], ["a1", "a2"]])
    cluster.write("DELETE", f"{NS2}/c2")
    cluster.write("DELETE", "/api/v1/namespaces/ns1/configmaps/c1")
    recreated = cluster.write("POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c1"}})
    _outgrow_the_watch_cache_window(cluster)
    cluster.heal()
    _settled(cluster, informer)

    assert any(s.error is not None and s.error.code == 410 for s in _host_streams(cluster))
    relist = _host_calls(cluster)[-1]
    assert relist.request.query_value("resourceVersion") == str(before)  # not older than: from the cache
    assert relist.request.query_value("limit") is None
    seen = cluster.host.seen
    assert [entry[:2] for entry in seen if entry[0] == "tombstone"] == [("tombstone", "ns2/c2")]
    assert ("update", "ns1/c1") in [entry[:2] for entry in seen]
    update = next(entry for entry in seen if entry[:2] == ("update", "ns1/c1"))
    assert update[2][1] == old_uid and update[3][1] == recreated.body["metadata"]["uid"] != old_uid
    assert not [entry for entry in seen if entry[0] == "delete"]  # nothing was seen on a watch
    assert cluster.violation is None


def test_resync_delivers_every_cached_object_again_as_an_update_of_itself():
    cluster, informer = _synced(InformerConfig(resync_ticks=25))
    same: list[bool] = []
    informer.add_handler(Handler(on_update=lambda old, new: same.append(old is new)))
    seen = len(cluster.host.seen)
    cluster.tick(25)
    cached = _cache(informer)
    assert cluster.host.seen[seen:] == [("update", key, state, state) for key, state in sorted(cached.items())]
    cluster.tick(25)
    assert len(cluster.host.seen) == seen + 2 * len(cached)
    assert same == [True] * (2 * len(cached))
    assert cluster.violation is None


def test_a_request_without_answer_completes_unknown_and_fails_over_and_watch_ends_are_reported():
    cluster = ControllerCluster()
    host = cluster.host
    connection = host.connect(cluster.credentials["admin"], CONNECTION)
    cluster.world.network.block("a1", CONTROLLER)  # a1 hears the host; its answers are lost
    lost = connection.send("POST", NS2, body={"metadata": {"name": "lost"}})
    cluster.flush()
    cluster.run_until(lambda: host.unclaimed)
    assert host.unclaimed == [ApiResponse(lost, UNKNOWN_CODE)]
    assert connection.instance == "a2"
    record = next(c for c in cluster.api_log.calls if c.client == CONTROLLER)
    assert (record.instance, record.finished, record.response) == ("a1", None, None)

    found = connection.send("GET", f"{NS2}/lost")  # the unknown write did land
    cluster.flush()
    cluster.run_until(lambda: len(host.unclaimed) == 2)
    assert host.unclaimed[1].code == 200 and host.unclaimed[1].request_id == found

    refused = connection.watch(CONFIGMAPS, 1)  # older than a2's window
    cluster.flush()
    cluster.run_until(lambda: len(host.unclaimed) == 3)
    assert isinstance(host.unclaimed[2], WatchEnded) and host.unclaimed[2].request_id == refused
    assert (host.unclaimed[2].reason, host.unclaimed[2].code) == (REFUSED, 410)

    silent = connection.watch(CONFIGMAPS, int(_rv(host.unclaimed[1])))
    cluster.flush()
    cluster.crash("a2")
    cluster.run_until(lambda: len(host.unclaimed) == 4)
    assert host.unclaimed[3] == WatchEnded(silent, SILENT)
    assert connection.instance == "a1"
    cluster.tick(40)
    assert len(_host_streams(cluster)) == 2  # the connection never watches again by itself
    assert cluster.violation is None


def _inject(cluster: ControllerCluster, request_id: int, error: ApiError) -> None:
    """An instance's refusal of one of the host's requests, delivered to the host at once."""
    call = cluster.host.connection.calls.get(request_id)
    source = call.instance if call is not None else cluster.host.connection.streams[request_id].instance
    cluster.world.apply(CONTROLLER, cluster.host.step(source, ApiResponse(request_id, error.code, error.status())))


def test_a_list_refused_as_too_new_lists_from_the_store_in_pages_and_a_compacted_page_lists_whole():
    """The reference server never refuses a reflector's list at a resourceVersion (kube's cacher
    answers 504 "Too large resource version" when its cache stays behind it; this one reads the
    store instead), so the refusals are injected as the instance's answers; the rest is real."""
    cluster, informer = _synced(InformerConfig(page_size=1), ClientConfig(request_timeout_ticks=60))
    _inject(cluster, informer.watch_id, ApiError.gone("too old resource version"))
    cluster.run_until(lambda: informer.listing is not None)
    _inject(cluster, informer.listing.request_id, ApiError("Timeout", "Too large resource version: 99, current: 20"))
    assert informer.resource_version_unavailable
    cluster.run_until(lambda: informer.listing is not None and informer.listing.token)
    page = next(e for e in cluster.world.network.in_flight
                if e.src == CONTROLLER and isinstance(e.message, ApiRequest) and e.message.query_value("continue"))
    cluster.world.hold(page)
    cluster.write("POST", NS2, {"metadata": {"name": "meanwhile"}})
    cluster.compact()
    cluster.world.deliver(page)
    truth = _settled(cluster, informer)
    assert "ns2/meanwhile" in truth

    queries = [(c.request.query_value("resourceVersion"), c.request.query_value("limit"),
                bool(c.request.query_value("continue")), c.response.code if c.response else None)
               for c in _host_calls(cluster)]
    assert queries[1][0] != "0" and queries[1][1:] == (None, False, 504)  # at its last resourceVersion
    assert queries[2:] == [(None, "1", False, 200), (None, "1", True, 410), (None, None, False, 200)]
    assert not informer.resource_version_unavailable
    assert cluster.violation is None
