"""CTRL-NODE-FITS's rule (spec/controllers/scheduling.py): what pods ask of a node against what it has."""

from __future__ import annotations

from fractions import Fraction

import pytest

from spec.controllers.scheduling import overcommit_problems, pod_request, quantity

NODE = {"metadata": {"name": "node-1"}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "3"}}}


def _pod(name: str, node: str = "node-1", phase: str = "Running", **resources) -> dict:
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "resources": resources}]},
            "status": {"phase": phase}}


@pytest.mark.parametrize("text, value", [("500m", Fraction(1, 2)), ("1.5", Fraction(3, 2)), ("2", 2), ("2Gi", 2**31),
                                         ("512Mi", 2**29), ("1G", 10**9), ("1e3", 1000), ("0", 0)])
def test_quantities_read_as_kube_writes_them(text, value):
    assert quantity(text) == value


def test_a_word_is_not_a_quantity():
    with pytest.raises(ValueError):
        quantity("lots")


def test_a_container_without_requests_asks_its_limits_and_init_containers_the_most_of_one():
    pod = _pod("a", limits={"cpu": "2", "memory": "1Gi"})
    pod["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "3"}}}]
    assert pod_request(pod) == (3, 2**30)


def test_pods_that_fit_are_fine_and_one_cpu_too_many_is_named():
    pods = [_pod("a", requests={"cpu": "2"}), _pod("b", requests={"cpu": "1500m"})]
    assert overcommit_problems("node-1", NODE, pods) == []
    problems = overcommit_problems("node-1", NODE, pods + [_pod("c", requests={"cpu": "1"})])
    assert problems == ["node node-1: its 3 pods (a, b, c) request cpu 4.5 of 4 allocatable"]


def test_the_pod_count_is_judged_and_ended_pods_and_other_nodes_count_for_nothing():
    pods = [_pod("a"), _pod("b"), _pod("c", phase="Succeeded"), _pod("d", phase="Failed"), _pod("e", node="node-2")]
    assert overcommit_problems("node-1", NODE, pods) == []
    assert "pods 4 of 3" in overcommit_problems("node-1", NODE, pods + [_pod("f"), _pod("g", phase="Pending")])[0]
