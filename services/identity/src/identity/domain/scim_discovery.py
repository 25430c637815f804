"""What the SCIM service says about itself (RFC 7644 §4): ServiceProviderConfig,
ResourceTypes and Schemas, built from the scim2-models models and trimmed to the attributes
Chorus keeps (see scim_resources for the mapping)."""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Group,
    Meta,
    Mutability,
    Patch,
    ResourceType,
    Schema,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_models.resources.schema import Attribute

from identity.domain.scim_resources import ChorusEnterpriseUser, ScimUser

MAX_RESULTS = 200  # the most resources one list answer holds (`count` is capped to it)
MAX_BODY_BYTES = 1 << 20

# Per schema: the attributes published, with the sub-attributes kept (None: all of them).
PUBLISHED: dict[str, dict[str, frozenset[str] | None]] = {
    "urn:ietf:params:scim:schemas:core:2.0:User": {
        "userName": None,
        "name": frozenset({"formatted", "familyName", "givenName"}),
        "displayName": None,
        "title": None,
        "active": None,
        "emails": frozenset({"value", "type", "primary"}),
        "addresses": frozenset({"formatted", "locality", "type", "primary"}),
        "groups": None,
    },
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": None,
        "department": None,
        "organization": None,
        "manager": None,
    },
    "urn:ietf:params:scim:schemas:core:2.0:Group": {"displayName": None, "members": None},
}
# Derived by Chorus: what a client sends for them is not stored.
DERIVED = frozenset(
    {
        ("urn:ietf:params:scim:schemas:core:2.0:User", "displayName"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "department"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "organization"),
    }
)
SCHEMA_NAMES = {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "EnterpriseUser"}

PROVIDER = ScimProvider(
    models=[User, ChorusEnterpriseUser, Group],
    resource_types=[ResourceType.from_resource(ScimUser), ResourceType.from_resource(Group)],
    config=ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=MAX_BODY_BYTES),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Provisioning client token",
                description="A bearer token an admin created for this client "
                "(POST /v1/provisioning-clients); it acts as admin of the client's unit.",
                primary=True,
            )
        ],
    ),
)


def _published(schema: Schema) -> Schema:
    kept = PUBLISHED.get(str(schema.id), {})
    attributes: list[Attribute] = []
    for attribute in schema.attributes or []:
        name = str(attribute.name)
        if name not in kept:
            continue
        subs = kept[name]
        update: dict[str, Any] = {}
        if subs is not None and attribute.sub_attributes:
            update["sub_attributes"] = [s for s in attribute.sub_attributes if str(s.name) in subs]
        if (str(schema.id), name) in DERIVED:
            update["mutability"] = Mutability.read_only
        attributes.append(attribute.model_copy(update=update))
    schema_name = SCHEMA_NAMES.get(str(schema.id)) or schema.name
    return schema.model_copy(update={"attributes": attributes, "name": schema_name})


def _dump(resource: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return dumped


def service_provider_config(base_url: str) -> dict[str, Any]:
    assert PROVIDER.config is not None
    config = PROVIDER.config.model_copy(
        update={
            "meta": Meta(
                resource_type="ServiceProviderConfig",
                location=f"{base_url}/ServiceProviderConfig",
            )
        }
    )
    return _dump(config)


def resource_types(base_url: str) -> list[dict[str, Any]]:
    return [
        _dump(
            rt.model_copy(
                update={
                    "meta": Meta(
                        resource_type="ResourceType",
                        location=f"{base_url}/ResourceTypes/{rt.name}",
                    )
                }
            )
        )
        for rt in PROVIDER.resource_types
    ]


def schemas(base_url: str) -> list[dict[str, Any]]:
    return [
        _dump(
            _published(schema).model_copy(
                update={
                    "meta": Meta(resource_type="Schema", location=f"{base_url}/Schemas/{schema.id}")
                }
            )
        )
        for schema in PROVIDER.schemas
    ]
