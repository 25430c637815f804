"""Per-request batching of access lookups: one call per level, never one per row.

Built for each request (or each subscription event) with the caller's token: access
answers only what the caller may see (another person's grants stay out), so a loader
shared across callers would leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from gateway.clients.access import BATCH_MAX, AccessClient
from gateway.clients.backend import BackendProblem, BackendUnavailable

Json = dict[str, Any]


class AccessLoaders:
    def __init__(self, client: AccessClient, token: str | None) -> None:
        self._client = client
        self._token = token or ""
        self.account: DataLoader[str, Json | None] = DataLoader(
            load_fn=self._accounts, max_batch_size=BATCH_MAX
        )
        # Grants by holder and by account, active now or all of them (two loaders each:
        # access's batch routes take `active_only` for the whole batch).
        self.active_grants_of_holder: DataLoader[str, list[Json]] = DataLoader(
            load_fn=lambda ids: self._grants_of_holders(ids, active_only=True),
            max_batch_size=BATCH_MAX,
        )
        self.all_grants_of_holder: DataLoader[str, list[Json]] = DataLoader(
            load_fn=lambda ids: self._grants_of_holders(ids, active_only=False),
            max_batch_size=BATCH_MAX,
        )
        self.active_grants_of_account: DataLoader[str, list[Json]] = DataLoader(
            load_fn=lambda ids: self._grants_of_accounts(ids, active_only=True),
            max_batch_size=BATCH_MAX,
        )
        self.all_grants_of_account: DataLoader[str, list[Json]] = DataLoader(
            load_fn=lambda ids: self._grants_of_accounts(ids, active_only=False),
            max_batch_size=BATCH_MAX,
        )

    def grants_of_holder(self, active_only: bool) -> DataLoader[str, list[Json]]:
        return self.active_grants_of_holder if active_only else self.all_grants_of_holder

    def grants_of_account(self, active_only: bool) -> DataLoader[str, list[Json]]:
        return self.active_grants_of_account if active_only else self.all_grants_of_account

    async def _accounts(self, ids: Sequence[str]) -> Sequence[Json | None | BaseException]:
        """Unknown and unreadable accounts both load as None (access discloses neither)."""
        try:
            answer = await self._client.batch_get_accounts(self._token, list(ids))
        except (BackendUnavailable, BackendProblem) as exc:
            return [exc] * len(ids)
        found = {a["id"]: a for a in answer.get("accounts", [])}
        return [found.get(i) for i in ids]

    async def _grants_of_holders(
        self, ids: Sequence[str], *, active_only: bool
    ) -> Sequence[list[Json] | BaseException]:
        try:
            answer = await self._client.grants_by_holders(
                self._token, list(ids), active_only=active_only
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return [exc] * len(ids)
        groups = {g["holder_id"]: g["grants"] for g in answer.get("groups", [])}
        return [list(groups.get(i, [])) for i in ids]

    async def _grants_of_accounts(
        self, ids: Sequence[str], *, active_only: bool
    ) -> Sequence[list[Json] | BaseException]:
        try:
            answer = await self._client.grants_by_accounts(
                self._token, list(ids), active_only=active_only
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return [exc] * len(ids)
        groups = {g["account_id"]: g["grants"] for g in answer.get("groups", [])}
        return [list(groups.get(i, [])) for i in ids]

    def remember_account(self, account: Json) -> None:
        """The state a write returned replaces what this request loaded before it."""
        self.account.prime(account["id"], account, force=True)

    def prime_accounts(self, accounts: Sequence[Json]) -> None:
        for account in accounts:
            self.account.prime(account["id"], account)

    def forget_grants(self) -> None:
        """After a write that changes grants, later fields of the request load them anew."""
        for loader in (
            self.active_grants_of_holder,
            self.all_grants_of_holder,
            self.active_grants_of_account,
            self.all_grants_of_account,
        ):
            loader.clear_all()
