"""Unit tests of RaftLog: 1-based indexes, the empty prefix at index 0, and the bookkeeping the
node uses to persist only what changed."""

from __future__ import annotations

import pytest

from impl.raft.log import RaftLog
from impl.raft.messages import Entry


def _log(*terms: int) -> RaftLog:
    return RaftLog([Entry(term, f"e{i}") for i, term in enumerate(terms, start=1)])


def test_empty_log_has_index_zero_of_term_zero():
    log = RaftLog()
    assert (log.last_index, log.last_term) == (0, 0)
    assert log.term_at(0) == 0
    assert log.all() == ()


def test_term_at_is_one_based():
    log = _log(1, 1, 2)
    assert [log.term_at(i) for i in range(4)] == [0, 1, 1, 2]
    assert (log.last_index, log.last_term) == (3, 2)
    assert log.entry(3) == Entry(2, "e3")


@pytest.mark.parametrize("index", [-1, 4])
def test_term_at_outside_the_log_is_a_programming_error(index):
    with pytest.raises(AssertionError, match="outside log of 3"):
        _log(1, 1, 2).term_at(index)


@pytest.mark.parametrize("index", [0, 4])
def test_entry_outside_the_log_is_a_programming_error(index):
    with pytest.raises(AssertionError):
        _log(1, 1, 2).entry(index)


def test_entries_returns_at_most_count_from_start():
    log = _log(1, 2, 3)
    assert log.entries(2, 1) == (Entry(2, "e2"),)
    assert log.entries(2, 5) == (Entry(2, "e2"), Entry(3, "e3"))
    assert log.entries(4, 1) == ()


def test_matches_compares_the_term_at_an_index_and_is_false_beyond_the_end():
    log = _log(1, 2)
    assert log.matches(0, 0)
    assert log.matches(2, 2)
    assert not log.matches(2, 1)
    assert not log.matches(3, 2)


def test_append_returns_the_new_index():
    log = RaftLog()
    assert log.append(Entry(1, "a")) == 1
    assert log.append(Entry(1, "b")) == 2
    assert log.all() == (Entry(1, "a"), Entry(1, "b"))


def test_put_overwrites_in_place_and_keeps_what_follows():
    log = _log(1, 1, 1)
    log.put(2, Entry(5, "x"))
    assert [e.term for e in log.all()] == [1, 5, 1]
    log.put(4, Entry(6, "y"))  # one past the end appends
    assert log.last_index == 4


def test_put_leaving_a_hole_is_a_programming_error():
    with pytest.raises(AssertionError, match="hole"):
        _log(1).put(3, Entry(1, "x"))


def test_truncate_after_deletes_every_later_entry():
    log = _log(1, 1, 2, 2)
    log.truncate_after(2)
    assert [e.term for e in log.all()] == [1, 1]
    log.truncate_after(0)
    assert log.all() == ()
    with pytest.raises(AssertionError):
        log.truncate_after(1)


def test_every_mutation_changes_the_version():
    log = RaftLog()
    versions = [log.version]
    log.append(Entry(1, "a"))
    versions.append(log.version)
    log.put(1, Entry(2, "b"))
    versions.append(log.version)
    log.truncate_after(0)
    versions.append(log.version)
    assert len(set(versions)) == 4


def test_a_log_built_from_entries_has_nothing_unpersisted():
    assert _log(1, 2).take_unpersisted() is None


def test_take_unpersisted_returns_new_entries_once():
    log = _log(1)
    log.append(Entry(2, "a"))
    log.append(Entry(2, "b"))
    assert log.take_unpersisted() == (2, (Entry(2, "a"), Entry(2, "b")))
    assert log.take_unpersisted() is None


def test_take_unpersisted_starts_at_the_lowest_changed_index():
    log = _log(1, 1, 1, 1)
    log.append(Entry(2, "tail"))
    log.put(2, Entry(3, "mid"))
    first, entries = log.take_unpersisted()
    assert first == 2
    assert [e.term for e in entries] == [3, 1, 1, 2]


def test_take_unpersisted_after_truncation_names_the_cut_with_no_entries():
    log = _log(1, 1, 1)
    log.truncate_after(1)
    assert log.take_unpersisted() == (2, ())


def test_take_unpersisted_after_truncate_then_append():
    log = _log(1, 1, 1)
    log.truncate_after(1)
    log.append(Entry(4, "new"))
    assert log.take_unpersisted() == (2, (Entry(4, "new"),))


# find_conflict_by_term: the largest index <= i whose term is <= t (etcd-raft's findConflictByTerm).
TERMS = (1, 1, 2, 2, 3, 3, 3)


@pytest.mark.parametrize(("index", "term", "expected"), [
    (7, 3, 7),  # the entry itself may match
    (7, 4, 7),  # a higher term: nothing to skip
    (7, 2, 4),  # skip the whole run of term 3
    (7, 1, 2),
    (7, 0, 0),  # no entry has a term <= 0: back to the empty prefix
    (5, 2, 4),
    (3, 1, 2),
    (4, 2, 4),
    (0, 5, 0),
    (10, 3, 7),  # an index beyond the end is clamped to the last index
    (10, 2, 4),
])
def test_find_conflict_by_term(index, term, expected):
    assert _log(*TERMS).find_conflict_by_term(index, term) == expected


def test_find_conflict_by_term_on_an_empty_log():
    assert RaftLog().find_conflict_by_term(5, 3) == 0
