"""An instance's link to the replicated store: its requests, and the watch that feeds its caches.

kube-apiserver is an etcd client (clientv3): requests go to the member it believes leads, follow
"not leader" hints, and give up after a timeout (the outcome of a write is then unknown: 504).
Its watch caches follow the store through watches opened with WithRequireLeader, so a member
that loses its leader cancels them and the watch moves to another member from the last revision
seen.

Simplification, stated: kube-apiserver opens one store watch per resource; an instance here
opens one over the whole ``/registry/`` prefix and hands each event to its resource's cache. The
semantics per resource are the same (each cache sees its events in order, and knows it is
complete up to the stream's revision); the simulated cluster carries one stream instead of
twenty.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.apiserver.storage import StoreAnswer
from impl.etcd.keyspace import prefix_end
from impl.etcd.messages import ClientRequest, ClientResponse, WatchCancel, WatchCreate, WatchResponse
from impl.etcd.registry import DEFAULT_PREFIX
from impl.etcd.types import RangeRequest

__all__ = ["StoreLink", "LinkConfig", "REGISTRY_KEY", "REGISTRY_END"]

REGISTRY_KEY = (DEFAULT_PREFIX + "/").encode()
REGISTRY_END = prefix_end(REGISTRY_KEY)


@attrs.frozen
class LinkConfig:
    request_timeout_ticks: int = 30
    redirects_max: int = 6
    retry_ticks: int = 3
    watch_silence_ticks: int = 25  # progress notifications come every few ticks on a live stream
    store_silence_ticks: int = 30  # nothing at all from the store this long: not ready


@attrs.define
class _Pending:
    op: Any
    token: Any
    target: str
    sent_at: int
    redirects: int = 0
    retry_at: int | None = None  # no leader known: ask again then


@attrs.define
class _Feed:
    state: str = "idle"  # idle | listing | watching
    watch_id: int = 0
    member: str = ""
    expected_seq: int = 0
    last_heard: int = 0
    revision: int = 0  # every change up to here reached the caches


class StoreLink:
    """Sans-I/O: every method returns the messages to send, as (member, message) pairs."""

    FEED = "watch-cache-list"  # the token of the feed's own list request

    def __init__(self, members: tuple[str, ...], config: LinkConfig = LinkConfig()) -> None:
        self.members = tuple(sorted(members))
        self.config = config
        self.leader_guess = self.members[0]
        self.pending: dict[int, _Pending] = {}
        self.feed = _Feed()
        self.now = 0
        self.last_answer = 0  # the tick the store last answered anything
        self._next_id = 0
        self._next_watch = 0

    # ----- requests -----------------------------------------------------------------------

    def send(self, op: Any, token: Any, member: str | None = None) -> list[tuple[str, Any]]:
        self._next_id += 1
        target = member or self.leader_guess
        self.pending[self._next_id] = _Pending(op, token, target, self.now)
        return [(target, ClientRequest(self._next_id, op))]

    def on_response(self, src: str, response: ClientResponse) -> tuple[list[tuple[Any, StoreAnswer]], list]:
        """(the finished requests as (token, answer), the messages to send)."""
        call = self.pending.get(response.request_id)
        if call is None or call.target != src:
            return [], []  # late, duplicated, or from a member we already gave up on
        self.last_answer = self.now
        if response.not_leader:
            return self._redirect(response.request_id, call, response.leader_hint)
        del self.pending[response.request_id]
        if response.error is not None:
            return [(call.token, StoreAnswer(error=response.error))], []
        if response.unknown is not None:
            return [(call.token, StoreAnswer(error=f"unavailable: {response.unknown}"))], []
        self.leader_guess = src
        return [(call.token, StoreAnswer(response.response))], []

    def _redirect(self, request_id: int, call: _Pending, hint: str | None) -> tuple[list, list]:
        """Nothing was proposed: try the hinted leader (or the next member), a few times."""
        if call.redirects >= self.config.redirects_max:
            del self.pending[request_id]
            return [(call.token, StoreAnswer(error="unavailable: no leader found"))], []
        call.redirects += 1
        if hint not in self.members:  # an election is under way: ask the next member a little later
            call.target = self._next_member(call.target)
            call.retry_at = self.now + self.config.retry_ticks
            return [], []
        call.target = self.leader_guess = hint
        call.sent_at = self.now
        return [], [(call.target, ClientRequest(request_id, call.op))]

    def _next_member(self, member: str) -> str:
        index = self.members.index(member) if member in self.members else -1
        return self.members[(index + 1) % len(self.members)]

    def tick(self, now: int) -> tuple[list[tuple[Any, StoreAnswer]], list]:
        """(requests that waited too long: unavailable, a write's outcome unknown; requests due
        for another try)."""
        self.now = now
        finished, out = [], []
        for rid, call in sorted(self.pending.items()):
            if now - call.sent_at >= self.config.request_timeout_ticks:
                del self.pending[rid]
                self.leader_guess = self._next_member(call.target)
                finished.append((call.token, StoreAnswer(error="unavailable: request timed out")))
            elif call.retry_at is not None and now >= call.retry_at:
                call.retry_at = None
                out.append((call.target, ClientRequest(rid, call.op)))
        return finished, out

    # ----- the caches' feed ---------------------------------------------------------------

    def start_feed(self) -> list[tuple[str, Any]]:
        """List everything under /registry/, then watch from the next revision."""
        self.feed.state = "listing"
        return self.send(RangeRequest(REGISTRY_KEY, REGISTRY_END), self.FEED)

    def watch_from(self, revision: int) -> list[tuple[str, Any]]:
        """Watch everything after ``revision``. The watch starts *at* it, not after (its events
        were seen already and are skipped): compaction at exactly ``revision`` removes a
        deletion's tombstone there, so a watch from ``revision`` + 1 would be accepted and never
        see whether a deletion it missed happened; from ``revision`` it fails with ErrCompacted
        as soon as anything it needs is gone, and the caches list again."""
        self._next_watch += 1
        member = self.leader_guess
        self.feed = _Feed("watching", self._next_watch, member, 0, self.now, revision)
        return [(member, WatchCreate(self._next_watch, REGISTRY_KEY, REGISTRY_END, max(revision, 1)))]

    def on_watch(self, src: str, response: WatchResponse) -> tuple[str, list]:
        """What the feed must do with a watch response: "events" (pass them on), "progress",
        "relist" (compacted away), "resume" (the stream broke: watch again elsewhere), or
        "ignore" (a stream we no longer follow)."""
        feed = self.feed
        if feed.state != "watching" or response.watch_id != feed.watch_id or src != feed.member:
            return "ignore", []
        self.last_answer = self.now
        feed.last_heard = self.now
        if response.seq != feed.expected_seq:
            return "resume", []
        feed.expected_seq += 1
        if response.canceled:
            return ("relist" if response.compact_revision else "resume"), []
        if response.created:
            return "ignore", []
        if response.progress:
            return "progress", []
        return "events", list(response.events)

    def feed_silent(self) -> bool:
        return self.feed.state == "watching" and self.now - self.feed.last_heard >= self.config.watch_silence_ticks

    def resume_feed(self) -> list[tuple[str, Any]]:
        """Watch again, on the next member, from the last revision the caches have."""
        out = []
        if self.feed.state == "watching":
            out.append((self.feed.member, WatchCancel(self.feed.watch_id)))
            self.leader_guess = self._next_member(self.feed.member)
        return out + self.watch_from(self.feed.revision)

    def reachable(self) -> bool:
        return self.now - self.last_answer < self.config.store_silence_ticks
