"""Label and field selectors: the examples of the Kubernetes "Labels and Selectors" and "Field Selectors"
pages, labels.Parse's edge cases, and round trips of describe()."""

import pytest
from hypothesis import given, strategies as st

from impl.apiserver.resources import resource_for
from impl.apiserver.selectors import (LabelSelector, Requirement, label_selector_from_object, parse_field_selector,
                                      parse_label_selector, qualified_name_errors)
from impl.apiserver.status import ApiError

PODS = resource_for("", "pods")
SECRETS = resource_for("", "secrets")
NODES = resource_for("", "nodes")
JOBS = resource_for("batch", "jobs")


@pytest.mark.parametrize("text, labels, expected", [
    ("environment = production", {"environment": "production"}, True),
    ("environment=production,tier!=frontend", {"environment": "production", "tier": "backend"}, True),
    ("environment=production,tier!=frontend", {"environment": "production", "tier": "frontend"}, False),
    ("tier != frontend", {}, True),  # != selects objects without the key too
    ("environment in (production, qa)", {"environment": "qa"}, True),
    ("tier notin (frontend, backend)", {"tier": "cache"}, True),
    ("tier notin (frontend, backend)", {}, True),
    ("partition", {"partition": ""}, True),
    ("!partition", {"partition": "a"}, False),
    ("!partition", {}, True),
    ("a==b", {"a": "b"}, True),
    ("a=", {"a": ""}, True),
    ("a in ()", {"a": ""}, True),
    ("x in (in)", {"x": "in"}, True),
    ("example.com/app=web", {"example.com/app": "web"}, True),
    ("replicas>2", {"replicas": "3"}, True),
    ("replicas<2", {"replicas": "x"}, False),
    ("", {"anything": "x"}, True),
])
def test_label_selector_matches(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


def test_parse_keeps_requirements_sorted_by_key_and_describes_like_kubernetes():
    selector = parse_label_selector("z notin (),x in (foo,,baz),y")
    assert selector.describe() == "x in (,baz,foo),y,z notin ()"
    assert [requirement.key for requirement in selector.requirements] == ["x", "y", "z"]


@pytest.mark.parametrize("text, message", [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b,", "found '', expected: identifier after ','"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("(", "found '(', expected: !, identifier, or 'end of string'"),
    ("a==(", "unable to parse requirement: found '(', expected: identifier"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
])
def test_syntax_errors_are_bad_requests_with_parser_messages(text, message):
    with pytest.raises(ApiError) as raised:
        parse_label_selector(text)
    assert raised.value.code == 400
    assert raised.value.message == message


@pytest.mark.parametrize("text", ["A/b=c", "-a=b", "a" * 64 + "=b", "x=a/b", "x=" + "v" * 64, "a/b/c", "/a",
                                  "x>abc"])
def test_invalid_keys_and_values_are_refused(text):
    with pytest.raises(ApiError) as raised:
        parse_label_selector(text)
    assert raised.value.message.startswith("unable to parse requirement: ")
    assert "\n" not in raised.value.message


def test_qualified_name_rules():
    assert qualified_name_errors("app.kubernetes.io/name") == []
    assert qualified_name_errors("my_name.v1") == []
    assert qualified_name_errors("a" * 63) == []
    assert qualified_name_errors("a" * 64) == ["name part must be no more than 63 characters"]
    assert qualified_name_errors("/x") == ["prefix part must be non-empty"]
    assert qualified_name_errors("x/") == ["name part must be non-empty"]
    assert qualified_name_errors("Upper.Case/x")[0].startswith("prefix part a lowercase RFC 1123 subdomain")


def test_label_selector_object():
    selector = label_selector_from_object({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                             {"key": "canary", "operator": "DoesNotExist"}],
    })
    assert selector.matches({"app": "web", "tier": "b"})
    assert not selector.matches({"app": "web", "tier": "b", "canary": "1"})
    assert not selector.matches({"app": "web", "tier": "c"})
    assert selector.describe() == "app=web,!canary,tier in (a,b)"


def test_nil_selector_selects_nothing_and_empty_selects_everything():
    assert not label_selector_from_object(None).matches({})
    assert label_selector_from_object({}).matches({"a": "b"})
    assert label_selector_from_object({}).empty()


@pytest.mark.parametrize("selector, message", [
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, '"Equals" is not a valid'),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "values set must be empty"),
    ({"matchLabels": {"bad key": "x"}}, "Invalid value"),
])
def test_malformed_selector_objects_raise_value_error(selector, message):
    with pytest.raises(ValueError, match=message):
        label_selector_from_object(selector)


# --- property: describe() parses back to the same selector

_NAMES = st.from_regex(r"[a-z0-9]([a-z0-9_.-]{0,10}[a-z0-9])?", fullmatch=True)
_KEYS = st.one_of(_NAMES, st.builds(lambda prefix, name: f"{prefix}.io/{name}", st.from_regex(r"[a-z]{1,8}", fullmatch=True), _NAMES))
_VALUES = st.one_of(st.just(""), _NAMES)


@st.composite
def requirements(draw):
    key = draw(_KEYS)
    operator = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]))
    if operator in ("exists", "!"):
        return Requirement(key, operator, ())
    if operator in ("gt", "lt"):
        return Requirement(key, operator, (str(draw(st.integers(0, 999))),))
    if operator in ("in", "notin"):
        return Requirement(key, operator, tuple(sorted(draw(st.sets(_VALUES, min_size=1, max_size=4)))))
    return Requirement(key, operator, (draw(_VALUES),))


@given(st.lists(requirements(), max_size=5))
def test_describe_round_trips(drawn):
    selector = LabelSelector.of(drawn)
    assert parse_label_selector(selector.describe()) == selector


@given(st.lists(requirements(), max_size=4), st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_selector_is_the_conjunction_of_its_requirements(drawn, labels):
    selector = LabelSelector.of(drawn)
    assert selector.matches(labels) == all(requirement.matches(labels) for requirement in drawn)


# --- field selectors

POD = {"metadata": {"name": "web-1", "namespace": "default"},
       "spec": {"nodeName": "node-a", "restartPolicy": "Always"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize("text, expected", [
    ("status.phase=Running", True),
    ("status.phase==Running", True),
    ("status.phase!=Running", False),
    ("metadata.name=web-1,metadata.namespace=default", True),
    ("spec.nodeName=node-a,status.phase=Pending", False),
    ("spec.schedulerName=", True),  # a missing field reads as ""
    ("spec.nodeName!=", True),
    ("", True),
])
def test_pod_field_selectors(text, expected):
    assert parse_field_selector(text, PODS).matches(POD) is expected


def test_unsupported_field_label_is_kubernetes_message():
    with pytest.raises(ApiError) as raised:
        parse_field_selector("spec.containers=x", PODS)
    assert (raised.value.code, raised.value.message) == (400, "field label not supported: spec.containers")
    with pytest.raises(ApiError, match="field label not supported: status.phase"):
        parse_field_selector("status.phase=Running", SECRETS)


def test_field_selectors_of_other_kinds():
    assert parse_field_selector("type=kubernetes.io/tls", SECRETS).matches({"type": "kubernetes.io/tls"})
    assert parse_field_selector("spec.unschedulable=false", NODES).matches({"spec": {}})
    assert parse_field_selector("spec.unschedulable=true", NODES).matches({"spec": {"unschedulable": True}})
    assert parse_field_selector("status.successful=3", JOBS).matches({"status": {"succeeded": 3}})
    assert parse_field_selector("status.successful=0", JOBS).matches({"status": {}})


def test_field_selector_escapes_and_syntax():
    selector = parse_field_selector(r"metadata.name=a\,b\=c", PODS)
    assert selector.matches({"metadata": {"name": "a,b=c"}})
    assert parse_field_selector(selector.describe(), PODS) == selector
    with pytest.raises(ApiError, match="can't understand 'metadata.name'"):
        parse_field_selector("metadata.name", PODS)
    with pytest.raises(ApiError, match="invalid escape sequence"):
        parse_field_selector(r"metadata.name=a\b", PODS)
