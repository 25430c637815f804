"""SCIM filters (RFC 7644 §3.4.2.2) turned into MongoDB queries over our own document shape.

`scim2-filter-parser` reads the filter; its AST is rewritten into a small expression tree
of our own, then translated with an attribute table that says, for each SCIM attribute,
which document field holds it and how it compares. Three fixes to the library's reading:
- it gives `and` and `or` the same precedence (left to right); RFC 7644 binds `and`
  tighter, so ungrouped chains are regrouped here (parenthesised groups stay as written);
- a quoted `"true"` and a bare `true` reach its AST as the same text, so quoted strings are
  marked on the token stream before parsing;
- a value path `emails[type eq "work"]` is expanded into conditions on sub-attributes: every
  multi-valued attribute Chorus keeps holds at most one value, so "some value matches all of
  these" and "the value matches each of these" are the same condition.

String values reach the database only inside `$regex` (escaped) or as plain equality
values; FerretDB runs Go regular expressions, so the escaping sticks to the metacharacters
both RE2 and PCRE read the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scim2_filter_parser import ast as scim_ast  # type: ignore[import-untyped]
from scim2_filter_parser.lexer import SCIMLexer  # type: ignore[import-untyped]
from scim2_filter_parser.parser import SCIMParser  # type: ignore[import-untyped]
from scim2_models import InvalidFilterException, InvalidValueException, TooManyException

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

MAX_FILTER_LENGTH = 2_000
MAX_FILTER_TERMS = 100
MATCH_NOTHING: dict[str, Any] = {"_id": {"$in": []}}
STRING_OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
ORDERING = {"gt": "$gt", "ge": "$gte", "lt": "$lt", "le": "$lte"}
_REGEX_SPECIALS = frozenset("\\.^$|?*+()[]{}")


# --- the expression tree -------------------------------------------------------------------------
@dataclass(frozen=True)
class AttributePath:
    """`[uri:]name[.sub]` as written (names are case-insensitive; compare lower-cased)."""

    uri: str | None
    name: str
    sub: str | None = None

    def __str__(self) -> str:
        text = f"{self.name}.{self.sub}" if self.sub else self.name
        return f"{self.uri}:{text}" if self.uri else text


CompareValue = str | bool | int | None  # None is the JSON literal null


@dataclass(frozen=True)
class Comparison:
    path: AttributePath
    op: str
    value: CompareValue


@dataclass(frozen=True)
class Present:
    path: AttributePath


@dataclass(frozen=True)
class AllOf:
    terms: tuple[FilterExpression, ...]


@dataclass(frozen=True)
class AnyOf:
    terms: tuple[FilterExpression, ...]


@dataclass(frozen=True)
class Negation:
    term: FilterExpression


FilterExpression = Comparison | Present | AllOf | AnyOf | Negation


class _Quoted(str):
    """A comparison value that was a JSON string in the filter (not true/false/null)."""

    __slots__ = ()


def _tokens(text: str) -> Iterator[Any]:
    for token in SCIMLexer().tokenize(text):
        if token.type == "COMP_VALUE":
            token.value = _Quoted(token.value)
        yield token


def parse_filter(text: str) -> FilterExpression:
    """The filter as an expression tree; `invalidFilter` for anything unreadable."""
    if not text.strip():
        raise InvalidFilterException(detail="the filter is empty")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(detail=f"filters are limited to {MAX_FILTER_LENGTH} chars")
    try:
        tree = SCIMParser().parse(_tokens(text))
        if not isinstance(tree, scim_ast.Filter):
            raise InvalidFilterException(detail="the filter is incomplete")
        expression = _convert(tree, None)
    except InvalidFilterException:
        raise
    except Exception as exc:  # the lexer and parser raise plain errors (and RecursionError)
        raise InvalidFilterException(detail="the filter is not valid SCIM filter syntax") from exc
    if _count_terms(expression) > MAX_FILTER_TERMS:
        raise TooManyException(detail=f"filters are limited to {MAX_FILTER_TERMS} comparisons")
    return expression


def _count_terms(expression: FilterExpression) -> int:
    if isinstance(expression, AllOf | AnyOf):
        return sum(_count_terms(t) for t in expression.terms)
    if isinstance(expression, Negation):
        return _count_terms(expression.term)
    return 1


def _convert(node: Any, namespace: AttributePath | None) -> FilterExpression:
    if isinstance(node, scim_ast.Filter):
        if node.namespace is not None:  # attr[filter]: the filter reads attr's sub-attributes
            if namespace is not None:
                raise InvalidFilterException(detail="value filters cannot be nested")
            return _convert(node.expr, _path(node.namespace, None))
        if isinstance(node.expr, scim_ast.LogExpr):
            return _regroup(node, namespace)
        inner = _convert(node.expr, namespace)
        return Negation(inner) if node.negated else inner
    if isinstance(node, scim_ast.AttrExpr):
        return _attribute_expression(node, namespace)
    raise InvalidFilterException(detail="the filter is not valid SCIM filter syntax")


def _chain(node: Any) -> tuple[list[Any], list[str]]:
    """Operands and operators of an ungrouped `a or b and c ...` chain, left to right."""
    if (
        isinstance(node, scim_ast.Filter)
        and isinstance(node.expr, scim_ast.LogExpr)
        and node.namespace is None
        and not node.negated
    ):
        left, left_ops = _chain(node.expr.expr1)
        right, right_ops = _chain(node.expr.expr2)
        return left + right, [*left_ops, node.expr.op.lower(), *right_ops]
    return [node], []


def _regroup(node: Any, namespace: AttributePath | None) -> FilterExpression:
    """`and` binds tighter than `or` (RFC 7644 §3.4.2.2)."""
    operands, operators = _chain(node)
    alternatives: list[list[FilterExpression]] = [[_convert(operands[0], namespace)]]
    for operator, operand in zip(operators, operands[1:], strict=True):
        if operator == "or":
            alternatives.append([])
        alternatives[-1].append(_convert(operand, namespace))
    groups: list[FilterExpression] = [
        g[0] if len(g) == 1 else AllOf(tuple(g)) for g in alternatives
    ]
    return groups[0] if len(groups) == 1 else AnyOf(tuple(groups))


def _path(node: Any, namespace: AttributePath | None) -> AttributePath:
    sub = node.sub_attr.value if node.sub_attr is not None else None
    if namespace is None:
        return AttributePath(uri=node.uri, name=str(node.attr_name), sub=sub)
    if sub is not None or node.uri is not None:
        raise InvalidFilterException(detail="a value filter names sub-attributes only")
    return AttributePath(uri=namespace.uri, name=namespace.name, sub=str(node.attr_name))


def _attribute_expression(node: Any, namespace: AttributePath | None) -> FilterExpression:
    operator = str(node.value).lower()
    target = node.attr_path
    conditions: list[FilterExpression] = []
    if isinstance(target.attr_name, scim_ast.Filter):
        # emails[type eq "work"].value eq "x": the library moved `.value` onto the namespace.
        value_path = target.attr_name
        if namespace is not None or value_path.namespace is None:
            raise InvalidFilterException(detail="value filters cannot be nested")
        outer = value_path.namespace
        parent = AttributePath(uri=outer.uri, name=str(outer.attr_name))
        if outer.sub_attr is None:
            raise InvalidFilterException(detail="a value path needs a sub-attribute here")
        conditions.append(_convert(value_path.expr, parent))
        path = AttributePath(uri=parent.uri, name=parent.name, sub=outer.sub_attr.value)
    else:
        path = _path(target, namespace)
    if operator == "pr":
        conditions.append(Present(path))
    else:
        conditions.append(Comparison(path, operator, _value(node.comp_value)))
    return conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))


def _value(node: Any) -> CompareValue:
    raw = node.value if node is not None else None
    if isinstance(raw, _Quoted):
        try:
            decoded = json.loads(f'"{raw}"')  # JSON escapes such as \u00e9
        except ValueError:
            return str(raw)
        return str(decoded)
    if raw == "true":
        return True
    if raw == "false":
        return False
    if raw == "null":
        return None
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    raise InvalidFilterException(detail="the filter is not valid SCIM filter syntax")


# --- what each SCIM attribute is in our documents ------------------------------------------------
@dataclass(frozen=True)
class StringField:
    """A string held in `field`; `stored_lower`: the field holds the value lower-cased."""

    field: str
    case_exact: bool = False
    stored_lower: bool = False
    sortable: bool = True


@dataclass(frozen=True)
class DateTimeField:
    field: str
    sortable: bool = True


@dataclass(frozen=True)
class ActiveFlag:
    """SCIM `active`: true exactly when `status` is "active"."""

    field: str = "status"
    sortable: bool = False


@dataclass(frozen=True)
class FixedValue:
    """A value Chorus always reports the same (`emails.type` is "work"), present whenever
    `present_with` is (or always, when it is None)."""

    value: str | bool
    present_with: str | None = None
    sortable: bool = False


@dataclass(frozen=True)
class UnitValue:
    """A value derived from the employee's org unit (its department's name...), matched
    against the unit table in memory and queried as `unit_id $in [...]`."""

    name: str
    sortable: bool = False


Target = StringField | DateTimeField | ActiveFlag | FixedValue | UnitValue


@dataclass(frozen=True)
class AttributeTable:
    """SCIM attributes of one resource type: `(schema, name, sub)` lower-cased → target."""

    core_schema: str
    extension_schemas: tuple[str, ...]
    targets: Mapping[tuple[str, str, str | None], Target]

    def resolve(self, path: AttributePath) -> Target:
        name, sub = path.name.lower(), path.sub.lower() if path.sub else None
        if path.uri is not None:
            schemas = [path.uri.lower()]
        else:  # no URI: the core schema, then an extension naming it unambiguously
            schemas = [self.core_schema.lower(), *(s.lower() for s in self.extension_schemas)]
        for schema in schemas:
            target = self.targets.get((schema, name, sub))
            if target is not None:
                return target
        raise InvalidFilterException(detail=f"'{path}' is not an attribute that can be filtered")

    def sort_field(self, attribute: str) -> str:
        """The document field `sortBy` names (`invalidValue` when it cannot be sorted)."""
        path = attribute_path(attribute)
        try:
            target = self.resolve(path)
        except InvalidFilterException:
            raise InvalidValueException(detail=f"cannot sort by '{attribute}'") from None
        if not isinstance(target, StringField | DateTimeField) or not target.sortable:
            raise InvalidValueException(detail=f"cannot sort by '{attribute}'")
        return target.field


def attribute_path(text: str) -> AttributePath:
    """`urn:...:User:name.givenName` as a path (for sortBy)."""
    text = text.strip()
    uri: str | None = None
    if ":" in text:
        uri, _, text = text.rpartition(":")
    name, _, sub = text.partition(".")
    if not name or not name.replace("-", "").replace("_", "").replace("$", "").isalnum():
        raise InvalidValueException(detail="not an attribute path")
    return AttributePath(uri=uri or None, name=name, sub=sub or None)


def _user_targets() -> dict[tuple[str, str, str | None], Target]:
    core, enterprise = CORE_USER.lower(), ENTERPRISE_USER.lower()
    email = StringField("email", stored_lower=True)
    unit = StringField("unit_id", case_exact=True)
    manager = StringField("manager_id", case_exact=True)
    return {
        (core, "id", None): StringField("_id", case_exact=True),
        (core, "externalid", None): StringField("external_id", case_exact=True),
        (core, "username", None): email,
        (core, "name", "givenname"): StringField("given_name"),
        (core, "name", "familyname"): StringField("family_name"),
        (core, "title", None): StringField("title"),
        (core, "active", None): ActiveFlag(),
        (core, "emails", None): email,
        (core, "emails", "value"): email,
        (core, "emails", "type"): FixedValue("work", present_with="email"),
        (core, "emails", "primary"): FixedValue(True, present_with="email"),
        (core, "addresses", "locality"): StringField("location"),
        (core, "addresses", "type"): FixedValue("work", present_with="location"),
        (core, "addresses", "primary"): FixedValue(True, present_with="location"),
        (core, "groups", None): unit,
        (core, "groups", "value"): unit,
        (core, "groups", "display"): UnitValue("name"),
        (core, "meta", "created"): DateTimeField("created_at"),
        (core, "meta", "lastmodified"): DateTimeField("updated_at"),
        (core, "meta", "resourcetype"): FixedValue("User"),
        (enterprise, "employeenumber", None): StringField("employee_number"),
        (enterprise, "department", None): UnitValue("department"),
        (enterprise, "organization", None): UnitValue("organization"),
        (enterprise, "manager", None): manager,
        (enterprise, "manager", "value"): manager,
    }


USER_ATTRIBUTES = AttributeTable(
    core_schema=CORE_USER, extension_schemas=(ENTERPRISE_USER,), targets=_user_targets()
)
GROUP_ATTRIBUTES = AttributeTable(
    core_schema=CORE_GROUP,
    extension_schemas=(),
    targets={
        (CORE_GROUP.lower(), "id", None): StringField("_id", case_exact=True),
        (CORE_GROUP.lower(), "displayname", None): StringField("name"),
        (CORE_GROUP.lower(), "meta", "lastmodified"): DateTimeField("updated_at"),
        (CORE_GROUP.lower(), "meta", "resourcetype"): FixedValue("Group"),
    },
)


# --- translation ---------------------------------------------------------------------------------
def to_mongo(
    expression: FilterExpression,
    table: AttributeTable,
    *,
    unit_values: Mapping[str, Mapping[str, str | None]] | None = None,
) -> dict[str, Any]:
    """The MongoDB query matching what `expression` matches.

    `unit_values[name][unit_id]` is the value of the unit-derived attribute `name`
    (department, organization, name) for each unit, for `UnitValue` targets.
    """
    return _Translator(table, unit_values or {}).translate(expression)


@dataclass(frozen=True)
class _Translator:
    table: AttributeTable
    unit_values: Mapping[str, Mapping[str, str | None]]

    def translate(self, expression: FilterExpression) -> dict[str, Any]:
        if isinstance(expression, AllOf):
            return {"$and": [self.translate(t) for t in expression.terms]}
        if isinstance(expression, AnyOf):
            return {"$or": [self.translate(t) for t in expression.terms]}
        if isinstance(expression, Negation):
            return {"$nor": [self.translate(expression.term)]}
        target = self.table.resolve(expression.path)
        if isinstance(expression, Present):
            return self._present(target)
        if expression.op not in STRING_OPERATORS:
            raise InvalidFilterException(detail=f"unknown operator '{expression.op}'")
        return self._compare(target, expression)

    def _present(self, target: Target) -> dict[str, Any]:
        if isinstance(target, StringField | DateTimeField):
            return {target.field: {"$nin": [None, ""]}}
        if isinstance(target, ActiveFlag):
            return {}
        if isinstance(target, FixedValue):
            return _present_with(target)
        units = self.unit_values.get(target.name, {})
        return {"unit_id": {"$in": sorted(u for u, v in units.items() if v)}}

    def _compare(self, target: Target, comparison: Comparison) -> dict[str, Any]:
        op, value, path = comparison.op, comparison.value, comparison.path
        if isinstance(target, StringField):
            return _string_condition(target, op, value, path)
        if isinstance(target, DateTimeField):
            return _datetime_condition(target, op, value, path)
        if isinstance(target, ActiveFlag):
            wanted = _boolean(value, op, path)
            return {target.field: "active" if wanted else {"$ne": "active"}}
        if isinstance(target, FixedValue):
            if isinstance(target.value, bool):
                wanted = _boolean(value, op, path)
                return _present_with(target) if wanted is target.value else MATCH_NOTHING
            if _string_matches(target.value, op, _string_operand(value, op, path), False):
                return _present_with(target)
            return MATCH_NOTHING
        units = self.unit_values.get(target.name, {})
        if value is None and op in ("eq", "ne"):
            empty = sorted(u for u, v in units.items() if not v)
            return {"unit_id": {"$in" if op == "eq" else "$nin": empty}}
        operand = _string_operand(value, op, path)
        # For ne, units without a value match too ("not identical").
        matching = sorted(u for u, v in units.items() if _string_matches(v, op, operand, False))
        return {"unit_id": {"$in": matching}}


def _present_with(target: FixedValue) -> dict[str, Any]:
    return {} if target.present_with is None else {target.present_with: {"$nin": [None, ""]}}


def _boolean(value: CompareValue, op: str, path: AttributePath) -> bool:
    """`eq`/`ne` with a boolean (a quoted "true"/"false" too: providers send those)."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, bool) or op not in ("eq", "ne"):
        raise InvalidFilterException(detail=f"'{path}' is a boolean: use eq or ne with true/false")
    return value if op == "eq" else not value


def _string_operand(value: CompareValue, op: str, path: AttributePath) -> str:
    if not isinstance(value, str):
        raise InvalidFilterException(detail=f"'{path}' {op} needs a string value")
    return value


def _string_matches(actual: str | None, op: str, operand: str, case_exact: bool) -> bool:
    """What the database query does, in memory (for fixed and unit-derived values)."""
    if actual is None:
        return op == "ne"
    if not case_exact:
        actual, operand = actual.lower(), operand.lower()
    checks = {
        "eq": actual == operand,
        "ne": actual != operand,
        "co": operand in actual,
        "sw": actual.startswith(operand),
        "ew": actual.endswith(operand),
        "gt": actual > operand,
        "ge": actual >= operand,
        "lt": actual < operand,
        "le": actual <= operand,
    }
    return checks[op]


def escape_regex(text: str) -> str:
    """`text` as a literal inside a regular expression, for Go's RE2 and PCRE alike."""
    return "".join(f"\\{c}" if c in _REGEX_SPECIALS else c for c in text)


def _string_condition(
    target: StringField, op: str, value: CompareValue, path: AttributePath
) -> dict[str, Any]:
    field = target.field
    if value is None:
        if op == "eq":
            return {field: None}
        if op == "ne":
            return {field: {"$ne": None}}
        raise InvalidFilterException(detail=f"'{path}' {op} cannot compare with null")
    operand = _string_operand(value, op, path)
    exact = target.case_exact or target.stored_lower
    if target.stored_lower:
        operand = operand.lower()
    if op in ORDERING:
        return {field: {ORDERING[op]: operand}}
    if op in ("eq", "ne") and exact:
        return {field: operand} if op == "eq" else {field: {"$ne": operand}}
    literal = escape_regex(operand)
    pattern = {
        "eq": f"^{literal}$",
        "ne": f"^{literal}$",
        "co": literal,
        "sw": f"^{literal}",
        "ew": f"{literal}$",
    }[op]
    regex: dict[str, Any] = {"$regex": pattern}
    if not exact:
        regex["$options"] = "i"
    return {"$nor": [{field: regex}]} if op == "ne" else {field: regex}


def _datetime_condition(
    target: DateTimeField, op: str, value: CompareValue, path: AttributePath
) -> dict[str, Any]:
    if value is None and op in ("eq", "ne"):
        return {target.field: None if op == "eq" else {"$ne": None}}
    if op in ("co", "sw", "ew") or not isinstance(value, str):
        raise InvalidFilterException(detail=f"'{path}' is a dateTime: use eq ne gt ge lt le")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidFilterException(detail=f"'{path}' needs an ISO 8601 dateTime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if op == "eq":
        return {target.field: moment}
    if op == "ne":
        return {target.field: {"$ne": moment}}
    return {target.field: {ORDERING[op]: moment}}
