"""The etcd report a learner reads: the requests it is about, with their answers and values, in
a diagram without the heartbeats, grouped by scenario step."""

from __future__ import annotations

from pathlib import Path

from checks.etcd.area import AREA
from impl.catalog import bug_by_name
from impl.etcd.messages import describe_response
from impl.etcd.types import (
    DeleteRangeResponse, KeyValue, LeaseTimeToLiveResponse, PutResponse, RangeResponse, TxnResponse,
)

SCENARIO = Path(__file__).parent / "scenarios" / "etcd-stale-follower-read.scenario"


def _diagram(report: str) -> str:
    return report.split("```mermaid", 1)[1].split("```", 1)[0]


def test_the_diagram_shows_the_stale_read_with_its_answer_and_leaves_out_heartbeats(tmp_path):
    result = AREA.replay(SCENARIO.read_text(), str(SCENARIO), bug_by_name("stale-follower-read"), tmp_path)
    assert result.result == "violated" and result.invariant == "KV-LINEARIZABLE"
    report = (tmp_path / "report.md").read_text()
    diagram = _diagram(report)
    assert "c1->>n2: #35;2 get k/b" in diagram  # the request, `#` written as Mermaid's entity
    assert "n2->>c1: #35;2 not found rev=1" in diagram  # its answer: nothing there, not `None`
    assert "txn{put k/a=c1v1,put k/b=c1v2,put k/c=c1v3}" in diagram  # the write, with its values
    assert "step 6. c1 get k/b" in diagram
    assert "[] commit=" not in diagram and "AppendEntriesReply t1 ok" not in diagram
    assert "routine messages (heartbeats and their answers) not drawn" in diagram
    trace = report.split("## Trace", 1)[1]
    assert "[] commit=" in trace  # the trace keeps every event
    assert "## How to read the notation" in report and "`not found rev=1`" in report


def test_responses_read_as_what_the_client_saw():
    found = KeyValue(b"k/a", 2, 3, 2, b"v1")
    assert describe_response(RangeResponse(3)) == "not found rev=3"
    assert describe_response(RangeResponse(3, (found,), count=2, more=True)) == "k/a=v1 (count=2 more) rev=3"
    assert describe_response(RangeResponse(3, count=4)) == "4 keys (count only) rev=3"
    assert describe_response(PutResponse(4, found)) == "put rev=4 was k/a=v1"
    assert describe_response(DeleteRangeResponse(5, 1, (found,))) == "deleted 1 rev=5 was k/a=v1"
    assert describe_response(TxnResponse(6, False, (RangeResponse(6),))) == "txn failed rev=6 {not found rev=6}"
    assert describe_response(LeaseTimeToLiveResponse(6, 7, -1)) == "lease 7 not found"
    assert describe_response(LeaseTimeToLiveResponse(6, 7, 4, 10, (b"k/a",))) == "lease 7 ttl=4 granted=10 keys=k/a"


def test_a_linearizability_message_says_nothing_was_read_not_none():
    from types import SimpleNamespace

    from checks.etcd.observe import _call_text

    def call(f, value, outcome="ok"):
        return SimpleNamespace(process="c1", f=f, value=value, outcome=outcome)

    assert _call_text(call("read", None)) == "c1 read nothing"
    assert _call_text(call("read", "v1")) == "c1 read v1"
    assert _call_text(call("cas", (None, "v2"), "info")) == "c1 cas nothing->v2 (info)"
