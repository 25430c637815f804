"""Which signing key signs, which keys are published, when the next one is due (pure).

Time is cut into rotation periods of fixed length from the epoch; each period has at most
one key, whose `active_from` is the period's start (unique in storage, so replicas that
rotate at the same moment make one key, not two). The key that signs is the newest whose
`active_from` has come. The next key is created and published a little before its period
starts, so verifiers that fetched the JWKS recently know it before the first token it
signs; a key replaced by a newer one stays published long enough for every token it
signed to expire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chorus_kit.auth import MAX_TOKEN_LIFETIME

# After retirement a key stays published for the longest token life plus this margin
# (clock skew between replicas, verifiers' JWKS caches).
RETIREMENT_MARGIN = timedelta(minutes=5)
RETENTION = MAX_TOKEN_LIFETIME + RETIREMENT_MARGIN
MAX_LEAD = timedelta(minutes=10)


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    active_from: datetime
    public_jwk: dict[str, Any] = field(compare=False, hash=False)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms_of(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)


def period_start(now: datetime, period: timedelta) -> datetime:
    """The start of the rotation period `now` falls in (whole milliseconds: storable)."""
    length = max(1, _ms_of(period))
    return _at_ms((_ms(now) // length) * length)


def lead_time(period: timedelta) -> timedelta:
    """How early the next period's key is created and published."""
    return min(period / 2, MAX_LEAD)


def signing_record(keys: Sequence[KeyRecord], now: datetime) -> KeyRecord | None:
    """The newest key whose time has come."""
    active = [k for k in keys if k.active_from <= now]
    return max(active, key=lambda k: k.active_from, default=None)


def keys_due(keys: Sequence[KeyRecord], now: datetime, period: timedelta) -> list[datetime]:
    """The `active_from` of each key to create now: this period's if it has none (or no
    key is active yet), and the next period's once its lead time has begun."""
    due: list[datetime] = []
    start = period_start(now, period)
    if not any(start <= k.active_from <= now for k in keys):
        due.append(start)
    following = period_start(start + period, period)
    if now >= following - lead_time(period) and not any(k.active_from == following for k in keys):
        due.append(following)
    return due


def _with_retirement(
    keys: Sequence[KeyRecord], now: datetime
) -> list[tuple[KeyRecord, datetime | None]]:
    """Each key, oldest first, with when its successor took over (one pass over sorted keys)."""
    ordered = sorted(keys, key=lambda k: k.active_from)
    result = []
    for index, key in enumerate(ordered):
        following = ordered[index + 1].active_from if index + 1 < len(ordered) else None
        result.append((key, following if following is not None and following <= now else None))
    return result


def published(keys: Sequence[KeyRecord], now: datetime, period: timedelta) -> list[KeyRecord]:
    """Keys the JWKS serves, oldest first: about to sign, signing, or retired within RETENTION."""
    horizon = now + lead_time(period)
    return [
        key
        for key, retired in _with_retirement(keys, now)
        if key.active_from <= horizon and (retired is None or now < retired + RETENTION)
    ]


def prunable(keys: Sequence[KeyRecord], now: datetime) -> list[KeyRecord]:
    """Retired keys no token can need any more: their private halves are destroyed."""
    return [
        key
        for key, retired in _with_retirement(keys, now)
        if retired is not None and now >= retired + 2 * RETENTION
    ]
