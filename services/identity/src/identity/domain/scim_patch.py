"""SCIM PATCH (RFC 7644 §3.5.2) applied to a resource, with the providers' quirks accepted.

scim2-models applies the operations (paths with value filters, `primary` handling,
mutability and required checks, all-or-nothing); this module first brings what identity
providers actually send into the RFC's shape:
- `op` in any case ("Replace", "Add", "Remove"): the library reads it case-insensitively;
- booleans as strings ("False", "True"): pydantic's lax booleans read them;
- an operation without `path` whose value is an object of attributes: keys may be paths,
  including value-filter paths (`emails[type eq "work"].value`), which are split out into
  operations of their own;
- the enterprise `manager` given as a bare id string (Entra ID), and with a value on remove;
- `Operations`/`op`/`path`/`value` keys in any case, a missing `schemas`;
- `add`/`replace` on a value filter matching nothing creates the value it describes, and
  `remove` on `members` with a value removes those members (Entra ID), per the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from scim2_models import (
    Context,
    InvalidSyntaxException,
    InvalidValueException,
    PatchOp,
    Resource,
    ScimPolicy,
)

from identity.domain.scim_filter import ENTERPRISE_USER

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_OPERATIONS = 500
PATCH_POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)
_MANAGER_PATH = f"{ENTERPRISE_USER}:manager".lower()

ResourceT = TypeVar("ResourceT", bound=Resource[Any])


def _lower_keys(operation: Mapping[str, Any]) -> dict[str, Any]:
    known = {"op", "path", "value"}
    return {(k.lower() if k.lower() in known else k): v for k, v in operation.items()}


def _manager_value(value: Any) -> Any:
    """Entra ID sends the manager as its id alone."""
    return {"value": value} if isinstance(value, str) else value


def _normalise_operation(operation: Any) -> list[dict[str, Any]]:
    if not isinstance(operation, Mapping):
        raise InvalidSyntaxException(detail="each PATCH operation must be an object")
    normalised = _lower_keys(operation)
    op = normalised.get("op")
    path = normalised.get("path")
    if isinstance(path, str):
        path = path.strip() or None
        normalised["path"] = path
    if path is None:
        normalised.pop("path", None)
        value = normalised.get("value")
        if isinstance(value, Mapping):
            return _split_object_value(op, value)
        return [normalised]
    if isinstance(path, str) and path.lower() == _MANAGER_PATH:
        if isinstance(op, str) and op.lower() == "remove":
            normalised.pop("value", None)
        elif "value" in normalised:
            normalised["value"] = _manager_value(normalised["value"])
    return [normalised]


def _split_object_value(op: Any, value: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A path-less operation, with value-filter keys as operations of their own."""
    plain: dict[str, Any] = {}
    own: list[dict[str, Any]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidSyntaxException(detail="attribute names must be strings")
        if "[" in key:
            own.append({"op": op, "path": key, "value": item})
        elif key.lower() == _MANAGER_PATH:
            plain[key] = _manager_value(item)
        elif key.lower() == ENTERPRISE_USER.lower() and isinstance(item, Mapping):
            plain[key] = {
                k: _manager_value(v) if k.lower() == "manager" else v for k, v in item.items()
            }
        else:
            plain[key] = item
    operations = [{"op": op, "value": plain}] if plain or not own else []
    return operations + own


def normalise_patch(body: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH request body in the RFC's shape (see the module docstring)."""
    operations: Any = None
    other: dict[str, Any] = {}
    for key, value in body.items():
        if key.lower() == "operations":
            operations = value
        else:
            other[key] = value
    if not isinstance(operations, list) or not operations:
        raise InvalidValueException(detail="Operations must list one or more operations")
    if len(operations) > MAX_OPERATIONS:
        raise InvalidValueException(detail=f"at most {MAX_OPERATIONS} operations per request")
    other.setdefault("schemas", [PATCH_OP])
    return {
        **other,
        "Operations": [n for operation in operations for n in _normalise_operation(operation)],
    }


def apply_patch(resource: ResourceT, body: Mapping[str, Any]) -> ResourceT:
    """A copy of `resource` with the PATCH request `body` applied (all operations or none).

    Raises pydantic's ValidationError (carrying the SCIM error type) or a SCIMException.
    """
    patch_class: Any = PatchOp.__class_getitem__(type(resource))
    patch = patch_class.model_validate(
        normalise_patch(body), scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=PATCH_POLICY
    )
    patched = resource.model_copy(deep=True)
    patch.patch(patched, scim_policy=PATCH_POLICY)
    return patched
