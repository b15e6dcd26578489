"""Label and field selectors as the API server parses and evaluates them, plus the name syntax they share.

What it keeps (k8s.io/apimachinery ``pkg/labels/selector.go``, ``pkg/fields/selector.go``,
``pkg/util/validation/validation.go``; API concepts, "Labels and Selectors", "Field Selectors"):

- Label selector text: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a`` and
  the integer comparisons ``a>1``, ``a<1``, comma-separated; blanks around tokens are ignored. The words
  ``in``/``notin`` are operators after a key and plain values inside parentheses. ``a in ()`` means
  ``a in ("")`` and ``a=`` means the empty value, as in Kubernetes. Requirements are kept sorted by key
  (stable), and ``describe()`` prints them as ``Requirement.String`` does, so parse(describe(s)) == s.
- Empty text selects everything; ``label_selector_from_object(None)`` selects nothing (a nil
  metav1.LabelSelector), ``{}`` selects everything.
- Keys: optional DNS-1123 subdomain prefix (<= 253) and ``/``, then a name (<= 63) matching
  ``[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?``; values: <= 63, same charset, may be empty. Messages are
  Kubernetes' own.
- Field selector text: ``a=b``, ``a==b``, ``a!=b``, comma-separated, values escaped with ``\\``
  (``\\,``, ``\\=``, ``\\\\``); only the fields a resource's registry strategy publishes (FIELD_LABELS).
  A missing field reads as the empty string, booleans as ``true``/``false``, integers in decimal.

A refusal is ``ApiError("BadRequest", ...)`` with a one-line message; the list handler answers it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from impl.apiserver.resources import ResourceType
from impl.apiserver.status import ApiError

__all__ = [
    "LabelSelector", "Requirement", "FieldSelector", "FieldTerm", "FIELD_LABELS",
    "parse_label_selector", "label_selector_from_object", "parse_field_selector",
    "qualified_name_errors", "label_value_errors", "dns1123_subdomain_errors", "dns1123_label_errors",
]

# ---------------------------------------------------------------------------------------------
# Name syntax (pkg/util/validation): each returns a list of messages, empty when valid.

LABEL_VALUE_LENGTH_MAX = 63
QUALIFIED_NAME_LENGTH_MAX = 63
DNS1123_LABEL_LENGTH_MAX = 63
DNS1123_SUBDOMAIN_LENGTH_MAX = 253

_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

_QUALIFIED_NAME_MESSAGE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                           "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                           "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_LABEL_VALUE_MESSAGE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                        "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                        "'my_value',  or '12345', regex used for validation is "
                        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
_DNS1123_LABEL_MESSAGE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                          "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                          "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_DNS1123_SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                              "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                              "'example.com', regex used for validation is "
                              "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def _too_long(limit: int) -> str:
    return f"must be no more than {limit} characters"


def dns1123_label_errors(value: str) -> list[str]:
    errors = [_too_long(DNS1123_LABEL_LENGTH_MAX)] if len(value) > DNS1123_LABEL_LENGTH_MAX else []
    if not _DNS1123_LABEL.fullmatch(value):
        errors.append(_DNS1123_LABEL_MESSAGE)
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    errors = [_too_long(DNS1123_SUBDOMAIN_LENGTH_MAX)] if len(value) > DNS1123_SUBDOMAIN_LENGTH_MAX else []
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(_DNS1123_SUBDOMAIN_MESSAGE)
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName: label keys, annotation keys, finalizers, webhook names."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _QUALIFIED_NAME_MESSAGE
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errors: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + message for message in dns1123_subdomain_errors(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_LENGTH_MAX:
        errors.append("name part " + _too_long(QUALIFIED_NAME_LENGTH_MAX))
    if name and not _QUALIFIED_NAME.fullmatch(name):
        errors.append("name part " + _QUALIFIED_NAME_MESSAGE)
    return errors


def label_value_errors(value: str) -> list[str]:
    errors = [_too_long(LABEL_VALUE_LENGTH_MAX)] if len(value) > LABEL_VALUE_LENGTH_MAX else []
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(_LABEL_VALUE_MESSAGE)
    return errors


# ---------------------------------------------------------------------------------------------
# Label selectors.

# operator -> how Requirement.String writes it between key and values
_OPERATOR_TEXT = {"=": "=", "==": "==", "!=": "!=", "in": " in ", "notin": " notin ", "gt": ">", "lt": "<"}
_UNARY = ("exists", "!")
_BINARY_NAMES = "in, notin, =, ==, !=, gt, lt"  # as Kubernetes lists binaryOperators in its errors


@attrs.frozen
class Requirement:
    """One ``key op values`` term. ``operator`` is one of =, ==, !=, in, notin, exists, !, gt, lt."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator in ("=", "==", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        return present and _integer_compare(self.operator, value, self.values[0])

    def describe(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return "!" + self.key
        listed = ",".join(sorted(self.values)) if len(self.values) > 1 else self.values[0]
        if self.operator in ("in", "notin"):
            listed = f"({listed})"
        return self.key + _OPERATOR_TEXT[self.operator] + listed


def _integer_compare(operator: str, value: str, bound: str) -> bool:
    try:
        number = int(value)
    except ValueError:
        return False
    return number > int(bound) if operator == "gt" else number < int(bound)


@attrs.frozen
class LabelSelector:
    """A conjunction of requirements, sorted by key; ``selects_nothing`` is a nil selector."""

    requirements: tuple[Requirement, ...] = ()
    selects_nothing: bool = False

    @classmethod
    def everything(cls) -> "LabelSelector":
        return cls()

    @classmethod
    def nothing(cls) -> "LabelSelector":
        return cls((), True)

    @classmethod
    def of(cls, requirements: list[Requirement]) -> "LabelSelector":
        return cls(tuple(sorted(requirements, key=lambda requirement: requirement.key)))

    def empty(self) -> bool:
        return not self.requirements and not self.selects_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.selects_nothing:
            return False
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def describe(self) -> str:
        return ",".join(requirement.describe() for requirement in self.requirements)


def _requirement_errors(key: str, operator: str, values: tuple[str, ...]) -> list[str]:
    """NewRequirement's checks, as one-line messages."""
    errors = [f'Invalid value: "{key}": {message}' for message in qualified_name_errors(key)]
    if operator in ("in", "notin") and not values:
        errors.append("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty")
    if operator in ("gt", "lt"):
        errors.extend(f'values: Invalid value: "{value}": for \'Gt\', \'Lt\' operators, the value must be an '
                      "integer" for value in values if not re.fullmatch(r"[+-]?[0-9]+", value))
    for value in values:
        errors.extend(f'values[{key}]: Invalid value: "{value}": {message}' for message in label_value_errors(value))
    return errors


def _new_requirement(key: str, operator: str, values: tuple[str, ...]) -> Requirement:
    errors = _requirement_errors(key, operator, values)
    if errors:
        raise _SelectorSyntaxError("; ".join(errors))
    return Requirement(key, operator, values)


class _SelectorSyntaxError(ValueError):
    pass


# --- the lexer: identifiers end at blanks and at the special characters = ! ( ) , > <
_SPECIAL = "=!(),><"
_BLANK = " \t\r\n"
_SYMBOLS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")
_KEYWORDS = ("in", "notin")
SELECTOR_TOKENS_MAX = 10_000  # a bound on the token list, far above any real selector


@attrs.frozen
class _Token:
    kind: str  # "id", "in", "notin", one of _SYMBOLS, "end", "error"
    text: str


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while len(tokens) < SELECTOR_TOKENS_MAX:
        while position < len(text) and text[position] in _BLANK:
            position += 1
        if position >= len(text):
            tokens.append(_Token("end", ""))
            return tokens
        token, position = _lex_one(text, position)
        tokens.append(token)
        if token.kind == "error":
            return tokens
    raise _SelectorSyntaxError(f"selector has more than {SELECTOR_TOKENS_MAX} tokens")


def _lex_one(text: str, position: int) -> tuple[_Token, int]:
    if text[position] in _SPECIAL:
        end = position
        while end < len(text) and text[end] in _SPECIAL:
            end += 1
        run = text[position:end]
        for symbol in _SYMBOLS:  # longest first for the two-character operators
            if run.startswith(symbol):
                return _Token(symbol, symbol), position + len(symbol)
        return _Token("error", f"error expected: keyword found '{run}'"), end
    end = position
    while end < len(text) and text[end] not in _SPECIAL and text[end] not in _BLANK:
        end += 1
    word = text[position:end]
    return _Token(word if word in _KEYWORDS else "id", word), end


class _LabelParser:
    """A recursive-descent parser over the token list, one method per grammar rule."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self, as_value: bool = True) -> _Token:
        return self._as(self.tokens[self.position], as_value)

    def take(self, as_value: bool = True) -> _Token:
        token = self.peek(as_value)
        self.position += 1
        return token

    @staticmethod
    def _as(token: _Token, as_value: bool) -> _Token:
        # 'in' and 'notin' are values where a value may stand (x in (in)).
        return _Token("id", token.text) if as_value and token.kind in _KEYWORDS else token

    def fail_at(self, token: _Token, expected: str) -> _SelectorSyntaxError:
        return _SelectorSyntaxError(token.text if token.kind == "error" else f"found '{token.text}', expected: {expected}")

    def selector(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token = self.peek()
            if token.kind == "end":
                return requirements
            if token.kind not in ("id", "!"):
                raise self.fail_at(token, "!, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except _SelectorSyntaxError as error:
                raise _SelectorSyntaxError(f"unable to parse requirement: {error}") from None
            after = self.take()
            if after.kind == "end":
                return requirements
            if after.kind != ",":
                raise self.fail_at(after, "',' or 'end of string'")
            if self.peek().kind not in ("id", "!"):
                raise self.fail_at(self.peek(), "identifier after ','")

    def requirement(self) -> Requirement:
        negated = self.peek().kind == "!"
        if negated:
            self.take()
        key = self.take()
        if key.kind != "id":
            raise self.fail_at(key, "identifier")
        key_errors = qualified_name_errors(key.text)
        if key_errors:
            raise _SelectorSyntaxError(f'Invalid value: "{key.text}": ' + "; ".join(key_errors))
        if self.peek().kind in ("end", ","):
            return _new_requirement(key.text, "!" if negated else "exists", ())
        operator = self.operator()
        values = self.value_set() if operator in ("in", "notin") else self.exact_value()
        return _new_requirement(key.text, operator, values)

    def operator(self) -> str:
        token = self.take(as_value=False)
        named = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}
        if token.kind not in named:
            raise self.fail_at(token, _BINARY_NAMES)
        return named[token.kind]

    def value_set(self) -> tuple[str, ...]:
        opening = self.take()
        if opening.kind != "(":
            raise _SelectorSyntaxError(f"found '{opening.text}' expected: '('")
        values: set[str] = set()
        for _ in range(SELECTOR_TOKENS_MAX):
            token = self.take()
            if token.kind == ")":
                return tuple(sorted(values or {""}))
            if token.kind == ",":
                if not values or self.peek().kind in (",", ")"):
                    values.add("")  # "(,", ",,", ",)" stand for the empty value
                continue
            if token.kind != "id":
                raise self.fail_at(token, "',', ')' or identifier")
            values.add(token.text)
            if self.peek().kind not in (",", ")"):
                raise self.fail_at(self.peek(), "',' or ')'")
        raise _SelectorSyntaxError("value set too long")

    def exact_value(self) -> tuple[str, ...]:
        if self.peek().kind in ("end", ","):
            return ("",)
        token = self.take()
        if token.kind != "id":
            raise self.fail_at(token, "identifier")
        return (token.text,)


def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse: the ``labelSelector`` query parameter and ``kubectl -l``."""
    try:
        tokens = _lex(text)
        return LabelSelector.of(_LabelParser(tokens).selector())
    except _SelectorSyntaxError as error:
        raise ApiError("BadRequest", str(error)) from None


_EXPRESSION_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None selects nothing, ``{}`` everything.

    Raises ValueError (one line) for a malformed selector: a bad key or value, an unknown operator,
    In/NotIn without values or Exists/DoesNotExist with values. Object validation reports these
    as field causes itself (validation.py); callers such as webhook matching treat it as an error."""
    if selector is None:
        return LabelSelector.nothing()
    requirements = [_new_requirement_or_value_error(key, "=", (str(value),))
                    for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        requirements.append(_expression_requirement(expression))
    return LabelSelector.of(requirements)


def _expression_requirement(expression: Mapping[str, Any]) -> Requirement:
    operator_name = expression.get("operator", "")
    if operator_name not in _EXPRESSION_OPERATORS:
        raise ValueError(f'"{operator_name}" is not a valid label selector operator')
    operator = _EXPRESSION_OPERATORS[operator_name]
    values = tuple(sorted(set(expression.get("values") or ())))
    if operator in _UNARY and values:
        raise ValueError("values: Invalid value: values set must be empty for exists and does not exist")
    return _new_requirement_or_value_error(str(expression.get("key", "")), operator, values)


def _new_requirement_or_value_error(key: str, operator: str, values: tuple[str, ...]) -> Requirement:
    try:
        return _new_requirement(key, operator, values)
    except _SelectorSyntaxError as error:
        raise ValueError(str(error)) from None


# ---------------------------------------------------------------------------------------------
# Field selectors.

def _path(*keys: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(obj: Mapping[str, Any]) -> Any:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value
    return read


_META = {"metadata.name": _path("metadata", "name"), "metadata.namespace": _path("metadata", "namespace")}

# kind -> field label -> reader; from each registry's GetAttrs / field label conversion functions.
# Note that a job's status.successful reads status.succeeded (pkg/registry/batch/job).
FIELD_LABELS: dict[str, dict[str, Callable[[Mapping[str, Any]], Any]]] = {
    "Pod": {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "Secret": {"type": _path("type")},
    "Namespace": {"status.phase": _path("status", "phase")},
    "Node": {"spec.unschedulable": lambda obj: bool(_path("spec", "unschedulable")(obj))},
    "Job": {"status.successful": lambda obj: int(_path("status", "succeeded")(obj) or 0)},
    "ReplicaSet": {"status.replicas": lambda obj: int(_path("status", "replicas")(obj) or 0)},
}


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@attrs.frozen
class FieldTerm:
    field: str
    operator: str  # "=" (also for ==) or "!="
    value: str

    def describe(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.operator}{escaped}"


@attrs.frozen
class FieldSelector:
    """A conjunction of field terms over objects of ``kind`` (FIELD_LABELS says how each field reads)."""

    terms: tuple[FieldTerm, ...]
    kind: str

    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: Mapping[str, Any]) -> bool:
        readers = {**_META, **FIELD_LABELS.get(self.kind, {})}
        for term in self.terms:
            actual = _field_text(readers[term.field](obj))
            if (actual == term.value) != (term.operator == "="):
                return False
        return True

    def describe(self) -> str:
        return ",".join(term.describe() for term in self.terms)


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], [], False
    for character in text:
        if escaped:
            current.append(character)
            escaped = False
        elif character == "\\":
            current.append(character)
            escaped = True
        elif character == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    out, position = [], 0
    while position < len(value):
        character = value[position]
        if character == "\\":
            following = value[position + 1:position + 2]
            if following not in ("\\", ",", "="):
                raise ApiError("BadRequest", f"invalid field selector: invalid escape sequence: \\{following}")
            out.append(following)
            position += 2
            continue
        if character in ",=":
            raise ApiError("BadRequest", f"invalid field selector: unescaped character in value: {character}")
        out.append(character)
        position += 1
    return "".join(out)


def _split_term(term: str) -> tuple[str, str, str] | None:
    for index in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator):]
    return None


def parse_field_selector(text: str, resource: ResourceType) -> FieldSelector:
    """fields.ParseSelector plus the resource's field label check (``field label not supported``)."""
    supported = {**_META, **FIELD_LABELS.get(resource.kind, {})}
    terms = []
    for part in sorted(_split_unescaped(text, ",")):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise ApiError("BadRequest", f"invalid selector: '{text}'; can't understand '{part}'")
        field, operator, value = split
        if field not in supported:
            raise ApiError("BadRequest", f"field label not supported: {field}")
        terms.append(FieldTerm(field, "!=" if operator == "!=" else "=", _unescape(value)))
    return FieldSelector(tuple(terms), resource.kind)
