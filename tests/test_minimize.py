"""Shrinking a scenario line by line (checks/minimize.py): deletions, fewer cluster options,
shorter ticks, fewer clients, and lines left with nothing to do."""

from __future__ import annotations

from checks.minimize import Oracle, drop_no_effect_lines, minimize_lines


def _oracle(fails):
    return Oracle(lambda text: "BROKE" if fails(text.splitlines()) else None, "BROKE")


def test_deletes_every_line_that_plays_no_part():
    lines = ["cluster 3", "tick 1", "put a", "tick 1", "get a", "tick 1"]
    shrunk = minimize_lines(lines, _oracle(lambda ls: "put a" in ls and "get a" in ls))
    assert shrunk == ["cluster 3", "put a", "get a"]


def test_shortens_a_tick_to_the_fewest_that_still_fail():
    shrunk = minimize_lines(["cluster 3", "tick 40"], _oracle(lambda ls: any(
        w[0] == "tick" and int(w[1]) >= 13 for w in (l.split() for l in ls[1:]))))
    assert shrunk == ["cluster 3", "tick 13"]


def test_drops_clients_that_play_no_part_with_their_lines_and_mentions():
    lines = ["cluster 3 clients=3 seed=1", "c1 put k v", "c3 get k", "partition n1 c3 | n2 n3 c1 c2", "c1 get k"]
    shrunk = minimize_lines(lines, _oracle(lambda ls: "c1 put k v" in ls and "c1 get k" in ls
                                           and "clients=" in ls[0]))
    assert shrunk == ["cluster 3 clients=1 seed=1", "c1 put k v", "c1 get k"]


def test_keeps_the_scenario_when_it_does_not_fail_again():
    lines = ["cluster 3", "tick 5"]
    assert minimize_lines(lines, _oracle(lambda ls: False)) == lines


def test_drops_lines_marked_maybe_when_the_run_fails_without_them():
    lines = ["cluster 3", "maybe crash n1", "crash n2", "maybe deliver n1->n2"]
    shrunk = drop_no_effect_lines(lines, _oracle(lambda ls: "crash n2" in ls and "maybe deliver n1->n2" in ls))
    assert shrunk == ["cluster 3", "crash n2", "maybe deliver n1->n2"]


def test_a_run_of_ticks_becomes_one_line_when_the_run_still_fails():
    def runner(text: str) -> str | None:
        lines = text.splitlines()
        after = lines[lines.index("propose n1 v") + 1:] if "propose n1 v" in lines else []
        return "X" if sum(int(line.split()[1]) for line in after if line.startswith("tick ")) >= 5 else None

    lines = ["cluster 3", "tick 1", "propose n1 v"] + ["tick 1"] * 7
    assert minimize_lines(lines, Oracle(runner, "X")) == ["cluster 3", "propose n1 v", "tick 5"]
