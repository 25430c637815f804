"""Per-request batching of access lookups: one call per level, never one per row.

Built for each request (or each subscription event) with the caller's token: access
answers only what the caller may see (another person's grants stay out), so a loader
shared across callers would leak.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cached_property, partial
from typing import Any

from strawberry.dataloader import DataLoader

from gateway.clients.access import BATCH_MAX, AccessClient
from gateway.clients.backend import BackendProblem, BackendUnavailable

Json = dict[str, Any]
# (review id, page size, only mine, only pending)
ReviewItemsKey = tuple[str, int, bool, bool]
LEASES_MAX = 200  # leases shown per holder
REVIEWS_BATCH_MAX = 100  # access's batch of review items takes at most 100 reviews


class AccessLoaders:
    """Each loader is made on first use. Their batch functions are `_AccessCalls`'s, not
    this object's: a loader holding a method of the object that holds it made every
    request a reference cycle, left with everything it held to the garbage collector."""

    def __init__(self, client: AccessClient, token: str | None) -> None:
        self._calls = _AccessCalls(client, token or "")
        # Grants of a page's people fetched with the page, by `active_only` then holder:
        # their rows' fields answer at once instead of each awaiting the batch.
        self._page_grants: dict[bool, dict[str, list[Json] | BaseException]] = {}

    @cached_property
    def account(self) -> DataLoader[str, Json | None]:
        return DataLoader(load_fn=self._calls.accounts, max_batch_size=BATCH_MAX)

    # Grants by holder and by account, active now or all of them (two loaders each:
    # access's batch routes take `active_only` for the whole batch).
    @cached_property
    def active_grants_of_holder(self) -> DataLoader[str, list[Json]]:
        return DataLoader(
            load_fn=partial(self._calls.grants_of_holders, active_only=True),
            max_batch_size=BATCH_MAX,
        )

    @cached_property
    def all_grants_of_holder(self) -> DataLoader[str, list[Json]]:
        return DataLoader(
            load_fn=partial(self._calls.grants_of_holders, active_only=False),
            max_batch_size=BATCH_MAX,
        )

    @cached_property
    def active_grants_of_account(self) -> DataLoader[str, list[Json]]:
        return DataLoader(
            load_fn=partial(self._calls.grants_of_accounts, active_only=True),
            max_batch_size=BATCH_MAX,
        )

    @cached_property
    def all_grants_of_account(self) -> DataLoader[str, list[Json]]:
        return DataLoader(
            load_fn=partial(self._calls.grants_of_accounts, active_only=False),
            max_batch_size=BATCH_MAX,
        )

    # Leases by holder, open ones or all (access's batch route takes one status).
    @cached_property
    def open_leases_of_holder(self) -> DataLoader[str, list[Json]]:
        return DataLoader(
            load_fn=partial(self._calls.leases_of_holders, status="open"),
            max_batch_size=BATCH_MAX,
        )

    @cached_property
    def all_leases_of_holder(self) -> DataLoader[str, list[Json]]:
        return DataLoader(
            load_fn=partial(self._calls.leases_of_holders, status=None),
            max_batch_size=BATCH_MAX,
        )

    # A review's first page of items, keyed by (review, page size, mine, pending): one
    # call per combination of the options for all the reviews of a level.
    @cached_property
    def review_items(self) -> DataLoader[ReviewItemsKey, Json | None]:
        return DataLoader(load_fn=self._calls.review_items, max_batch_size=REVIEWS_BATCH_MAX)

    def grants_of_holder(self, active_only: bool) -> DataLoader[str, list[Json]]:
        return self.active_grants_of_holder if active_only else self.all_grants_of_holder

    def grants_of_account(self, active_only: bool) -> DataLoader[str, list[Json]]:
        return self.active_grants_of_account if active_only else self.all_grants_of_account

    async def fetch_grants_of_page(self, holder_ids: list[str], wanted: set[bool]) -> None:
        """The grants of a page's people (≤ 100) for each `activeOnly` asked, one call each,
        kept for `grants_fetched`."""

        async def fetch(active_only: bool) -> None:
            answers: Sequence[list[Json] | BaseException]
            try:
                answers = await self._calls.grants_of_holders(holder_ids, active_only=active_only)
            except Exception as exc:  # an answer it cannot read: each row's grants fail, as
                answers = [exc] * len(holder_ids)  # through the loader; the rows stay
            self._page_grants[active_only] = dict(zip(holder_ids, answers, strict=True))

        await asyncio.gather(*(fetch(a) for a in wanted))

    def grants_fetched(
        self, holder_id: str, active_only: bool
    ) -> list[Json] | BaseException | None:
        """The holder's grants (or why they could not be read) if a page fetch has them."""
        return self._page_grants.get(active_only, {}).get(holder_id)

    def leases_of_holder(self, open_only: bool) -> DataLoader[str, list[Json]]:
        return self.open_leases_of_holder if open_only else self.all_leases_of_holder

    def remember_account(self, account: Json) -> None:
        """The state a write returned replaces what this request loaded before it."""
        self.account.prime(account["id"], account, force=True)

    def prime_accounts(self, accounts: Sequence[Json]) -> None:
        for account in accounts:
            self.account.prime(account["id"], account)

    def forget_leases(self) -> None:
        """After a check-out or check-in, later fields of the request load leases anew."""
        self._clear("open_leases_of_holder", "all_leases_of_holder")

    def forget_grants(self) -> None:
        """After a write that changes grants, later fields of the request load them anew."""
        self._page_grants.clear()
        self._clear(
            "active_grants_of_holder",
            "all_grants_of_holder",
            "active_grants_of_account",
            "all_grants_of_account",
        )

    def _clear(self, *loaders: str) -> None:
        for name in loaders:
            made: DataLoader[Any, Any] | None = self.__dict__.get(name)
            if made is not None:  # one not made yet holds nothing to forget
                made.clear_all()


class _AccessCalls:
    """The batch calls behind the loaders: the client and the caller's token, nothing
    that holds a loader."""

    def __init__(self, client: AccessClient, token: str) -> None:
        self._client = client
        self._token = token

    async def leases_of_holders(
        self, ids: Sequence[str], *, status: str | None
    ) -> Sequence[list[Json] | BaseException]:
        try:
            answer = await self._client.leases_by_holders(
                self._token, list(ids), status=status, limit=LEASES_MAX
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return [exc] * len(ids)
        groups = {g["holder_id"]: g["leases"] for g in answer.get("groups", [])}
        return [list(groups.get(i, [])) for i in ids]

    async def review_items(
        self, keys: Sequence[ReviewItemsKey]
    ) -> Sequence[Json | None | BaseException]:
        """Keys sharing their options go in one call; a review left out of the answer
        (unknown, or not the caller's to read) loads as None."""
        options = sorted({k[1:] for k in keys})
        answers = await asyncio.gather(
            *(self._review_items_with(keys, *o) for o in options), return_exceptions=True
        )
        pages: dict[ReviewItemsKey, Json | BaseException] = {}
        for option, answer in zip(options, answers, strict=True):
            if isinstance(answer, BaseException):
                pages.update({k: answer for k in keys if k[1:] == option})
            else:
                pages.update({(r, *option): page for r, page in answer.items()})
        return [pages.get(k) for k in keys]

    async def _review_items_with(
        self, keys: Sequence[ReviewItemsKey], limit: int, mine: bool, pending: bool
    ) -> dict[str, Json]:
        ids = [k[0] for k in keys if k[1:] == (limit, mine, pending)]
        answer = await self._client.review_items_by_reviews(
            self._token, ids, mine=mine, pending=pending, limit=limit
        )
        return {g["review_id"]: g for g in answer.get("groups", [])}

    async def accounts(self, ids: Sequence[str]) -> Sequence[Json | None | BaseException]:
        """Unknown and unreadable accounts both load as None (access discloses neither)."""
        try:
            answer = await self._client.batch_get_accounts(self._token, list(ids))
        except (BackendUnavailable, BackendProblem) as exc:
            return [exc] * len(ids)
        found = {a["id"]: a for a in answer.get("accounts", [])}
        return [found.get(i) for i in ids]

    async def grants_of_holders(
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

    async def grants_of_accounts(
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
