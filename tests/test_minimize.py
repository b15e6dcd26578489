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


class _AheadPool:
    """Replays a batch in this process, as ReplayPool would in its workers; keeps the batches."""

    def __init__(self, jobs, runner):
        self.jobs, self.runner, self.batches = jobs, runner, []

    def answers(self, texts):
        self.batches.append(len(texts))
        return [self.runner(text) for text in texts]


def _needs(required, ticks_at_least):
    """A failure that needs the ``required`` lines, a total wait of ``ticks_at_least`` and the
    cluster option `slow`."""
    def fails(lines):
        waited = sum(int(line.split()[1]) for line in lines[1:] if line.startswith("tick "))
        return all(line in lines for line in required) and waited >= ticks_at_least and "slow" in lines[0]
    return fails


def _random_case(rng):
    steps = [rng.choice(["tick 7", "tick 3", "put a", "get a", "crash n1", "maybe restart n1", "tick 20"])
             for _ in range(rng.randint(2, 24))]
    actions = sorted(set(steps) - {"tick 7", "tick 3", "tick 20"})
    required = rng.sample(actions, k=min(2, len(actions)))
    return ["cluster 3 fast slow seed=1", *steps], _needs(required, rng.randint(0, 30))


def test_candidates_replayed_ahead_are_decided_as_one_process_decides_them():
    import random

    rng = random.Random(7)
    for _ in range(300):
        lines, fails = _random_case(rng)
        replays_max = rng.choice([4, 8, 40, 4000])
        alone = _oracle(fails)
        alone.replays_max = replays_max
        ahead = _oracle(fails)
        ahead.replays_max = replays_max
        ahead.pool = _AheadPool(rng.choice([2, 3, 8]), ahead.signature_of)
        assert minimize_lines(lines, ahead) == minimize_lines(lines, alone)
        assert ahead.replays == alone.replays
        assert drop_no_effect_lines(lines, ahead) == drop_no_effect_lines(lines, alone)
        assert ahead.replays == alone.replays


def test_a_pool_replays_several_candidates_at_once():
    lines = ["cluster 3", *[f"put k{i}" for i in range(8)], "get k3"]
    oracle = _oracle(lambda ls: "put k3" in ls and "get k3" in ls)
    oracle.pool = _AheadPool(2, oracle.signature_of)
    assert minimize_lines(lines, oracle) == ["cluster 3", "put k3", "get k3"]
    assert max(oracle.pool.batches) == 2


def test_the_replay_workers_give_the_answers_of_this_process():
    from checks.minimize import shrink_found
    from checks.search import FoundRun

    class Outcome:
        def __init__(self, text):
            self.cluster = FoundRun(tuple(text.splitlines()), None)
            kept = self.cluster.lines
            self.violation = Broke() if "put a" in kept and "get a" in kept else None

    class Broke:
        signature = "BROKE"
    found = FoundRun(("cluster 3", "tick 5", "put a", "tick 2", "get a", "tick 9"), Broke())
    alone, _ = shrink_found(found, Broke(), Outcome, 40)
    shared, _ = shrink_found(found, Broke(), Outcome, 40, jobs=2)
    assert shared.lines == alone.lines == ("cluster 3", "put a", "get a")


def test_a_run_still_long_when_the_replays_ran_out_gets_more_once():
    lines = ["cluster 3", *[f"put k{i}" for i in range(40)], "get k7"]
    def fails(kept):
        return "put k7" in kept and "get k7" in kept

    def shrunk(long_steps):
        oracle = _oracle(fails)
        oracle.replays_max = oracle.long_replays_max = 4
        if long_steps is not None:
            oracle.long_steps, oracle.long_replays_max = long_steps, 12
        return minimize_lines(lines, oracle), oracle.replays
    short, replays = shrunk(None)
    assert replays == 4 and len(short) - 1 > 5
    shorter, replays = shrunk(5)
    assert replays == 12 and len(shorter) < len(short)
    assert shrunk(len(short)) == (short, 4)  # not longer than that: no more replays
