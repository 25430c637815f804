"""The staff programme's stores, built and prepared together for the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from identity.adapters.certification_store import CertificationStore
from identity.adapters.nomination_store import NominationStore
from identity.adapters.policy_store import PolicyStore
from identity.adapters.survey_store import SurveyStore
from identity.adapters.training_store import TrainingModuleStore


@dataclass(frozen=True)
class EngagementStores:
    policies: PolicyStore
    modules: TrainingModuleStore
    certifications: CertificationStore
    surveys: SurveyStore
    nominations: NominationStore

    @classmethod
    def of(cls, database: AsyncDatabase[dict[str, Any]]) -> EngagementStores:
        return cls(
            policies=PolicyStore(database),
            modules=TrainingModuleStore(database),
            certifications=CertificationStore(database),
            surveys=SurveyStore(database),
            nominations=NominationStore(database),
        )

    async def prepare(self) -> None:
        await self.policies.prepare()
        await self.modules.prepare()
        await self.certifications.prepare()
        await self.surveys.prepare()
        await self.nominations.prepare()

    @property
    def outbox_collections(self) -> list[AsyncCollection[dict[str, Any]]]:
        """The collections whose documents carry outboxes (for the relay)."""
        return [
            self.policies.collection,
            self.modules.collection,
            self.certifications.collection,
            self.surveys.collection,
            self.nominations.collection,
        ]

    def collection_of(self, store: object) -> AsyncCollection[dict[str, Any]]:
        """The outbox collection of one of these stores (for `events_written`)."""
        for candidate in (
            self.policies,
            self.modules,
            self.certifications,
            self.surveys,
            self.nominations,
        ):
            if candidate is store:
                return candidate.collection
        raise LookupError(f"not an engagement store: {type(store).__name__}")
