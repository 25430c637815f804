"""Every access mutation through the gateway against the real access service: typed results
for what worked and for what was refused, and a credential's secret shown once only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chorus_kit.events.identity import Role
from tests.support.access_world import AccessWorld, access_world
from tests.support.polling import eventually


@pytest.fixture(scope="module")
async def world(stack) -> AsyncIterator[AccessWorld]:
    with access_world(stack) as built:
        built.unit("dept-ma")
        built.unit("dept-mb")
        await built.hire("dept-ma", "owner1", "owner2", "owner3", "pub", "other")
        await built.hire("dept-mb", "stranger")
        yield built


def _run(world: AccessWorld, query: str, variables: dict[str, Any], token: str) -> Any:
    data = world.gql.data(query, variables, token=token)
    return next(iter(data.values()))


REGISTER = """mutation($input: RegisterAccountInput!) {
  registerAccount(input: $input) {
    __typename
    ... on Account { id handle coverage coverageLow owners { id } }
    ... on Problem { code }
  }
}"""


def _register(world: AccessWorld, handle: str, owners: list[str], token: str) -> Any:
    return _run(
        world,
        REGISTER,
        {
            "input": {
                "network": "INSTAGRAM",
                "handle": handle,
                "unitId": "dept-ma",
                "classification": "BRAND",
                "ownerIds": [world.people[o] for o in owners],
            }
        },
        token,
    )


def test_register_an_account_and_change_its_owners(world: AccessWorld) -> None:
    refused = _register(world, "m-refused", ["owner1"], world.token("owner1"))
    assert refused == {"__typename": "Forbidden", "code": refused["code"]}
    invalid = _register(world, "bad handle!", ["owner1"], world.admin)
    assert invalid["__typename"] == "ValidationFailed"

    account = _register(world, "m-owners", ["owner1"], world.admin)
    assert account["__typename"] == "Account"
    assert account["coverage"] == 1 and account["coverageLow"] is True
    added = _run(
        world,
        """mutation($a: ID!, $p: ID!) { addOwner(accountId: $a, personId: $p) {
          __typename ... on Account { coverage coverageLow owners { id } } } }""",
        {"a": account["id"], "p": world.people["owner2"]},
        world.admin,
    )
    assert added["coverage"] == 2 and added["coverageLow"] is False
    assert {o["id"] for o in added["owners"]} == {world.people["owner1"], world.people["owner2"]}

    # Someone of another unit cannot be an owner; nobody removes an owner but an admin.
    not_eligible = _run(
        world,
        """mutation($a: ID!, $p: ID!) { addOwner(accountId: $a, personId: $p) {
          __typename ... on Problem { code } } }""",
        {"a": account["id"], "p": world.people["stranger"]},
        world.admin,
    )
    assert not_eligible["__typename"] in ("Conflict", "ValidationFailed", "Forbidden")
    remove = """mutation($a: ID!, $p: ID!) {
      removeOwner(accountId: $a, personId: $p, reason: "moved on") {
        __typename ... on Account { coverage } ... on Problem { code } } }"""
    by_owner = _run(
        world,
        remove,
        {"a": account["id"], "p": world.people["owner2"]},
        world.token("owner1"),
    )
    assert by_owner["__typename"] == "Forbidden"
    removed = _run(world, remove, {"a": account["id"], "p": world.people["owner2"]}, world.admin)
    assert removed == {"__typename": "Account", "coverage": 1}


REQUEST = """mutation($input: RequestAccessInput!) {
  requestAccess(input: $input) {
    __typename
    ... on AccessRequest { id status role deciderIds requesterId }
    ... on Problem { code }
  }
}"""
DECIDE = """mutation($id: ID!) {
  %s(id: $id, reason: "ok") {
    __typename
    ... on AccessDecision { request { status decidedBy } grant { id role holderId active } }
    ... on Problem { code }
  }
}"""


def _request(world: AccessWorld, account: str, who: str, role: str = "PUBLISHER") -> Any:
    return _run(
        world,
        REQUEST,
        {"input": {"accountId": account, "role": role, "justification": "launch"}},
        world.token(who),
    )


def _account(world: AccessWorld, handle: str) -> str:
    made = _register(world, handle, ["owner1", "owner2"], world.admin)
    assert made["__typename"] == "Account", made
    return str(made["id"])


def test_request_approve_deny_and_revoke(world: AccessWorld) -> None:
    account = _account(world, "m-requests")
    asked = _request(world, account, "pub")
    assert asked["__typename"] == "AccessRequest" and asked["status"] == "PENDING"
    assert set(asked["deciderIds"]) == {world.people["owner1"], world.people["owner2"]}
    again = _request(world, account, "pub")
    assert again == {"__typename": "Conflict", "code": "request_pending"}
    empty = _run(
        world,
        REQUEST,
        {"input": {"accountId": account, "role": "VIEWER", "justification": ""}},
        world.token("pub"),
    )
    assert empty["__typename"] == "ValidationFailed"

    # The requester may not decide their own request; an owner may.
    own = _run(world, DECIDE % "approveAccessRequest", {"id": asked["id"]}, world.token("pub"))
    assert own["__typename"] == "Forbidden"
    approved = _run(
        world, DECIDE % "approveAccessRequest", {"id": asked["id"]}, world.token("owner1")
    )
    assert approved["request"] == {"status": "APPROVED", "decidedBy": world.people["owner1"]}
    grant = approved["grant"]
    assert grant["role"] == "PUBLISHER" and grant["active"] is True
    twice = _run(world, DECIDE % "denyAccessRequest", {"id": asked["id"]}, world.token("owner2"))
    assert twice == {"__typename": "Conflict", "code": "already_decided"}

    other = _request(world, account, "other", "VIEWER")
    denied = _run(world, DECIDE % "denyAccessRequest", {"id": other["id"]}, world.token("owner2"))
    assert denied == {"__typename": "AccessDecision", "request": denied["request"], "grant": None}
    assert denied["request"]["status"] == "DENIED"

    revoke = """mutation($id: ID!) { revokeGrant(id: $id, reason: "campaign over") {
      __typename ... on Grant { active revokedBy revokeReason } ... on Problem { code } } }"""
    # A colleague who may not see pub's grant is told it is not there.
    not_theirs = _run(world, revoke, {"id": grant["id"]}, world.token("other"))
    assert not_theirs == {"__typename": "NotFound", "code": "grant_not_found"}
    revoked = _run(world, revoke, {"id": grant["id"]}, world.token("owner2"))
    assert revoked == {
        "__typename": "Grant",
        "active": False,
        "revokedBy": world.people["owner2"],
        "revokeReason": "campaign over",
    }
    missing = _run(world, revoke, {"id": "no-such-grant"}, world.admin)
    assert missing == not_theirs


ROTATE = """mutation($a: ID!, $input: SecretVersionInput!) {
  recordSecretRotation(accountId: $a, kind: PASSWORD, input: $input) {
    __typename
    ... on SecretMetadata { kind currentVersion rotationRequired versions { version } }
    ... on Problem { code }
  }
}"""
CHECK_OUT = """mutation($a: ID!) {
  checkOutCredential(accountId: $a, kind: PASSWORD, minutes: 5) {
    __typename
    ... on CredentialCheckOut {
      lease { id status holderId secretVersion }
      secret { kind value codes totpCode }
    }
    ... on Problem { code }
  }
}"""


def test_a_credential_checked_out_shows_its_secret_once(world: AccessWorld) -> None:
    account = _account(world, "m-vault")
    secret = f"pw-{uuid.uuid4().hex}"
    # Only owners record a version, and only as a variable (never in the query text).
    refused = _run(world, ROTATE, {"a": account, "input": {"value": secret}}, world.token("pub"))
    assert refused["__typename"] == "Forbidden"
    inline = world.gql.data(
        "mutation($a: ID!) { recordSecretRotation(accountId: $a, kind: PASSWORD, "
        'input: {value: "inline-secret"}) { __typename ... on Problem { code } } }',
        {"a": account},
        token=world.token("owner1"),
    )["recordSecretRotation"]
    assert inline == {"__typename": "ValidationFailed", "code": "secret_in_query"}
    recorded = _run(
        world, ROTATE, {"a": account, "input": {"value": secret}}, world.token("owner1")
    )
    assert recorded == {
        "__typename": "SecretMetadata",
        "kind": "PASSWORD",
        "currentVersion": 1,
        "rotationRequired": False,
        "versions": [{"version": 1}],
    }

    # Without a grant, no check-out; with one, the secret once, in an uncacheable answer.
    assert _run(world, CHECK_OUT, {"a": account}, world.token("pub"))["__typename"] == ("Forbidden")
    world.grant(account, "pub", "publisher", "owner1")
    response = world.gql.post(CHECK_OUT, {"a": account}, token=world.token("pub"))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    checked_out = response.json()["data"]["checkOutCredential"]
    assert checked_out["secret"] == {
        "kind": "PASSWORD",
        "value": secret,
        "codes": None,
        "totpCode": None,
    }
    lease = checked_out["lease"]
    assert lease["status"] == "OPEN" and lease["holderId"] == world.people["pub"]

    # Afterwards the lease shows everywhere, the secret nowhere.
    mine = world.gql.post(
        """{ myAccess { leases { id status kind secretVersion account { handle } } } }""",
        token=world.token("pub"),
    )
    assert secret not in mine.text
    assert mine.json()["data"]["myAccess"]["leases"] == [
        {
            "id": lease["id"],
            "status": "OPEN",
            "kind": "PASSWORD",
            "secretVersion": 1,
            "account": {"handle": "m-vault"},
        }
    ]
    check_in = """mutation($id: ID!) { checkInCredential(leaseId: $id) {
      __typename ... on Lease { status endedBecause } ... on Problem { code } } }"""
    stranger = _run(world, check_in, {"id": lease["id"]}, world.token("other"))
    assert stranger["__typename"] in ("Forbidden", "NotFound")
    returned = _run(world, check_in, {"id": lease["id"]}, world.token("pub"))
    assert returned["__typename"] == "Lease" and returned["status"] == "ENDED"
    # Never in the gateway's own log.
    log = world.gateway.process.log_file.read_text()
    assert secret not in log


async def test_start_a_review_and_decide_an_item(world: AccessWorld) -> None:
    account = _account(world, "m-review")
    grant = world.grant(account, "other", "viewer", "owner1")
    unit_admin = world.stack.tokens("admin-ma", (Role.ADMIN, "dept-ma"))
    start = """mutation($input: StartAccessReviewInput!) { startAccessReview(input: $input) {
      __typename ... on AccessReview { id status itemCount undecided unitId }
      ... on Problem { code } } }"""
    body = {"input": {"unitId": "dept-ma", "durationSeconds": 3600, "undecided": "KEEP"}}
    assert _run(world, start, body, world.token("owner1"))["__typename"] == "Forbidden"
    review = _run(world, start, body, unit_admin)
    assert review["__typename"] == "AccessReview" and review["unitId"] == "dept-ma"

    reviews = """{ accessReviews(toReview: true) { ... on AccessReviewPage { nodes {
      id status items(mine: true, pending: true) {
        ... on AccessReviewItemPage { nodes { grantId holderId reviewerIds } } } } } } }"""

    async def open_for_owner() -> Any:
        return world.gql.data(reviews, token=world.token("owner2"))["accessReviews"]["nodes"]

    listed = await eventually(
        open_for_owner,
        lambda nodes: any(n["id"] == review["id"] and n["status"] == "OPEN" for n in nodes),
        what="the review is open for the owner",
    )
    mine = next(n for n in listed if n["id"] == review["id"])["items"]["nodes"]
    assert grant["id"] in {i["grantId"] for i in mine}

    decide = """mutation($r: ID!, $g: ID!, $d: ReviewDecision!) {
      decideAccessReviewItem(reviewId: $r, grantId: $g, decision: $d, comment: "left team") {
        __typename ... on AccessReviewItem { decision decidedBy outcome } ... on Problem { code }
      } }"""
    variables = {"r": review["id"], "g": grant["id"], "d": "REVOKE"}
    # The holder is no reviewer: the campaign is not theirs to see.
    by_holder = _run(world, decide, variables, world.token("other"))
    assert by_holder == {"__typename": "NotFound", "code": "review_not_found"}
    decided = _run(world, decide, variables, world.token("owner2"))
    assert decided["__typename"] == "AccessReviewItem"
    assert decided["decision"] == "REVOKE" and decided["decidedBy"] == world.people["owner2"]
    after = world.gql.data("{ myAccess { grants { id } } }", token=world.token("other"))[
        "myAccess"
    ]["grants"]
    assert grant["id"] not in {g["id"] for g in after}


HIDDEN = {
    "account": """query($id: ID!) { account(id: $id) {
      __typename ... on Problem { code message } } }""",
    "addOwner": """mutation($id: ID!, $p: ID!) { addOwner(accountId: $id, personId: $p) {
      __typename ... on Problem { code message } } }""",
    "requestAccess": """mutation($id: ID!) { requestAccess(input: {accountId: $id,
      role: VIEWER, justification: "curious"}) { __typename ... on Problem { code message } } }""",
}


def test_what_a_caller_may_not_see_is_not_found_not_forbidden(world: AccessWorld) -> None:
    """Someone of another unit gets, for a real account, exactly what they get for an id
    that exists nowhere (Forbidden would tell them it exists); someone who may see the
    account but not change it gets Forbidden."""
    account = _account(world, "m-hidden")
    stranger = world.token("stranger")
    for name, query in HIDDEN.items():
        variables = {"p": world.people["stranger"]} if name == "addOwner" else {}
        hidden = _run(world, query, {"id": account, **variables}, stranger)
        missing = _run(world, query, {"id": "no-such-account", **variables}, stranger)
        assert hidden == missing, name
        assert hidden["__typename"] == "NotFound" and hidden["code"] == "account_not_found"
        assert account not in hidden["message"]

    # A request the stranger may not read: NotFound; its requester reads it: Forbidden.
    asked = _request(world, account, "pub", "VIEWER")
    by_stranger = _run(world, DECIDE % "approveAccessRequest", {"id": asked["id"]}, stranger)
    assert by_stranger == {"__typename": "NotFound", "code": "request_not_found"}
    by_requester = _run(
        world, DECIDE % "approveAccessRequest", {"id": asked["id"]}, world.token("pub")
    )
    assert by_requester == {"__typename": "Forbidden", "code": "own_request"}
    # A colleague sees the unit's accounts but does not own this one: Forbidden.
    by_colleague = _run(
        world,
        HIDDEN["addOwner"],
        {"id": account, "p": world.people["other"]},
        world.token("other"),
    )
    assert by_colleague["__typename"] == "Forbidden"
