"""The vault's entry points for the leaver flow, against a real database: every open lease of
a leaver ends, every secret they checked out is flagged, and calling again changes nothing.

The handlers run in the test process on the real stores (FerretDB); events stay in each
document's outbox (no relay here), which is where this test counts them.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from access.adapters.grant_store import GrantStore
from access.adapters.mongo_store import OrgUnitView
from access.adapters.vault_crypto import Envelope, LocalMasterKey
from access.adapters.vault_directory import AccountDirectory
from access.adapters.vault_store import LeaseStore, SecretStore
from access.vault_handlers import VaultHandlers
from chorus_kit.auth import Principal
from chorus_kit.events.access import SecretKind
from chorus_kit.events.identity import Role, RoleAssignment


def person(sub: str) -> Principal:
    return Principal(
        sub=sub,
        roles=(RoleAssignment(role=Role.EMPLOYEE, unit="company"),),
        issued_at=datetime.now(UTC),
        token_id=str(uuid.uuid4()),
    )


@pytest.fixture
async def vault(ns, mongo) -> VaultHandlers:
    database = mongo[ns.database("access")]
    handlers = VaultHandlers(
        secrets=SecretStore(database),
        leases=LeaseStore(database),
        directory=AccountDirectory(database),
        grants=GrantStore(database),
        units=OrgUnitView(database, root_id="company"),
        envelope=Envelope(LocalMasterKey(os.urandom(32))),
        events_written=lambda *_: None,
    )
    await handlers.prepare()
    return handlers


async def add_account(database: Any, grants: dict[str, str]) -> str:
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await database["accounts"].insert_one(
        {
            "_id": account_id,
            "unit_id": "company",
            "status": "active",
            "owners": [p for p, r in grants.items() if r == "owner"],
            "rotate_after_checkout": False,
            "secret_max_age_days": 90,
        }
    )
    for holder, role in grants.items():
        await database["grants"].insert_one(
            {
                "_id": f"grant-{uuid.uuid4().hex[:8]}",
                "account_id": account_id,
                "account_unit_id": "company",
                "holder_id": holder,
                "role": role,
                "granted_at": now - timedelta(minutes=1),
                "granted_by": "test",
                "expires_at": None if role == "owner" else now + timedelta(days=1),
                "revoked_at": None,
            }
        )
    return account_id


def outbox_types(document: dict[str, Any]) -> list[str]:
    return [e["type"] for _, e in sorted((document.get("outbox") or {}).items())]


async def test_a_leaver_s_leases_end_and_their_secrets_are_flagged_once(vault, ns, mongo) -> None:
    database = mongo[ns.database("access")]
    a = await add_account(database, {"owner-1": "owner", "leaver": "publisher"})
    b = await add_account(database, {"owner-1": "owner", "leaver": "publisher"})
    untouched = await add_account(database, {"owner-1": "owner", "stayer": "publisher"})
    for account in (a, b, untouched):
        await vault.record_secret(
            account,
            SecretKind.PASSWORD,
            value=SecretStr(f"pw-{account}"),
            codes=None,
            totp=None,
            by=person("owner-1"),
        )
    open_lease, _ = await vault.check_out(a, SecretKind.PASSWORD, minutes=30, by=person("leaver"))
    returned, _ = await vault.check_out(b, SecretKind.PASSWORD, minutes=30, by=person("leaver"))
    await vault.check_in(returned.id, by=person("leaver"))
    stayer_lease, _ = await vault.check_out(
        untouched, SecretKind.PASSWORD, minutes=30, by=person("stayer")
    )

    since = datetime.now(UTC) - timedelta(days=90)
    offboarding = "off-1"
    ended = await vault.end_leases_of("leaver", reason="offboarded", offboarding_id=offboarding)
    flagged = await vault.flag_secrets_checked_out_by(
        "leaver", since=since, reason="offboarded", offboarding_id=offboarding
    )
    assert ended == [open_lease.id]
    assert flagged == sorted([f"{a}:password", f"{b}:password"])

    # Again (a retry after a crash): the same answer, no second effect.
    assert await vault.end_leases_of("leaver", reason="offboarded", offboarding_id=offboarding) == [
        open_lease.id
    ]
    assert (
        await vault.flag_secrets_checked_out_by(
            "leaver", since=since, reason="offboarded", offboarding_id=offboarding
        )
        == flagged
    )

    lease = await database["leases"].find_one({"_id": open_lease.id})
    assert lease["status"] == "ended" and lease["ended_because"] == "offboarded"
    assert lease["offboarding_id"] == offboarding
    assert outbox_types(lease).count("chorus.access.vault.checked_in") == 1
    for secret_id in flagged:
        secret = await database["secrets"].find_one({"_id": secret_id})
        assert [
            (f["reason"], f["person_id"], f["offboarding_id"]) for f in secret["rotation_flags"]
        ] == [("offboarded", "leaver", offboarding)]
        assert outbox_types(secret).count("chorus.access.vault.rotation_required") == 1
        # ... each with its audit entry in the same document.
        assert outbox_types(secret).count("chorus.access.audit.recorded") == 2
    other = await database["secrets"].find_one({"_id": f"{untouched}:password"})
    assert other["rotation_required"] is False
    assert (await database["leases"].find_one({"_id": stayer_lease.id}))["status"] == "open"


async def test_only_check_outs_since_the_given_time_and_accounts_count(vault, ns, mongo) -> None:
    database = mongo[ns.database("access")]
    old = await add_account(database, {"owner-1": "owner", "mover": "publisher"})
    kept = await add_account(database, {"owner-1": "owner", "mover": "publisher"})
    for account in (old, kept):
        await vault.record_secret(
            account,
            SecretKind.API_TOKEN,
            value=SecretStr("token"),
            codes=None,
            totp=None,
            by=person("owner-1"),
        )
        await vault.check_out(account, SecretKind.API_TOKEN, minutes=10, by=person("mover"))
    # A mover keeps the accounts of their new unit: only `old` is named.
    ended = await vault.end_leases_of(
        "mover", reason="moved", offboarding_id="move-1", account_ids=[old]
    )
    flagged = await vault.flag_secrets_checked_out_by(
        "mover",
        since=datetime.now(UTC) - timedelta(days=90),
        reason="moved",
        offboarding_id="move-1",
        account_ids=[old],
    )
    assert len(ended) == 1 and flagged == [f"{old}:api_token"]
    # Check-outs before `since` do not count.
    assert (
        await vault.flag_secrets_checked_out_by(
            "mover",
            since=datetime.now(UTC) + timedelta(seconds=5),
            reason="later",
            offboarding_id=None,
        )
        == []
    )
