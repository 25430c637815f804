"""Opinion leaders by peer nomination: ballots, distinct-peer counts, closing once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events.policy import OpinionLeaderIdentified
from identity.domain import nominations
from identity.domain.nominations import Ballot, NominationWindow, OpenNominationWindow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STAFF = {f"p{i}" for i in range(20)}


def window(
    threshold: int = 3, max_nominees: int = 2, opens_in: timedelta = timedelta(0)
) -> NominationWindow:
    command = OpenNominationWindow(
        opens_at=NOW + opens_in,
        closes_at=NOW + timedelta(days=7),
        threshold=threshold,
        max_nominees=max_nominees,
    )
    return nominations.open_window(command, unit_id="company", by="admin", now=NOW)


def ballot(w: NominationWindow, nominator: str, *nominees: str) -> Ballot:
    return nominations.cast_ballot(
        w, nominator_id=nominator, nominees=list(nominees), eligible=STAFF, now=NOW
    )


def test_defaults_are_ten_peers_and_five_names() -> None:
    command = OpenNominationWindow(closes_at=NOW + timedelta(days=1))
    assert (command.threshold, command.max_nominees) == (10, 5)


def test_self_nomination_is_refused() -> None:
    with pytest.raises(ChorusError) as refused:
        ballot(window(), "p1", "p2", "p1")
    assert refused.value.code == "self_nomination"


def test_a_ballot_names_distinct_eligible_colleagues_up_to_the_maximum() -> None:
    w = window(max_nominees=2)
    for nominees, code in (
        (("p2", "p2"), "duplicate_nominee"),
        (("p2", "p3", "p4"), "too_many_nominees"),
        (("p2", "stranger"), "nominee_not_eligible"),
    ):
        with pytest.raises(ChorusError) as refused:
            ballot(w, "p1", *nominees)
        assert refused.value.code == code
    assert ballot(w, "p1", "p2", "p3").nominees == ("p2", "p3")


def test_ballots_are_taken_only_while_the_window_is_open() -> None:
    with pytest.raises(Conflict) as early:
        ballot(window(opens_in=timedelta(hours=1)), "p1", "p2")
    assert early.value.code == "window_scheduled"
    w = window()
    with pytest.raises(Conflict) as late:
        nominations.cast_ballot(
            w, nominator_id="p1", nominees=["p2"], eligible=STAFF, now=w.closes_at
        )
    assert late.value.code == "window_closed"


def test_a_window_must_end_in_the_future_after_it_opens() -> None:
    command = OpenNominationWindow(closes_at=NOW - timedelta(minutes=1))
    with pytest.raises(ChorusError) as bad:
        nominations.open_window(command, unit_id="company", by="a", now=NOW)
    assert bad.value.code == "bad_window"


def test_counts_are_distinct_peers() -> None:
    w = window()
    ballots = [
        ballot(w, "p1", "p9"),
        ballot(w, "p1", "p9"),  # the same nominator twice (a replaced ballot seen twice)
        ballot(w, "p2", "p9", "p8"),
        Ballot(window_id=w.id, nominator_id="p8", nominees=("p8",)),  # never counts
    ]
    counts = nominations.count_nominations(ballots)
    assert counts == {"p9": 2, "p8": 1}


def test_leaders_reach_the_threshold_and_are_still_employed() -> None:
    counts = nominations.count_nominations(
        [Ballot("w", f"p{i}", ("p0", "p1") if i < 3 else ("p1",)) for i in range(2, 12)]
    )
    assert counts == {"p0": 1, "p1": 10}
    assert nominations.leaders(counts, threshold=10, still_employed=STAFF) == ("p1",)
    assert nominations.leaders(counts, threshold=11, still_employed=STAFF) == ()
    assert nominations.leaders(counts, threshold=1, still_employed={"p0"}) == ("p0",)


def test_closing_raises_one_event_per_leader_and_happens_once() -> None:
    w = window(threshold=2)
    ballots = [ballot(w, "p1", "p3", "p4"), ballot(w, "p2", "p3", "p4"), ballot(w, "p3", "p4")]
    closed = nominations.close_window(
        w, counts=nominations.count_nominations(ballots), still_employed=STAFF, now=NOW
    )
    assert closed.leaders == ("p4", "p3")
    assert [e.sequence for e in closed.pending_events] == [1, 2]
    assert {e.subject for e in closed.pending_events} == {w.id}
    data = [e.data_as(OpinionLeaderIdentified) for e in closed.pending_events]
    assert [d.employee_id for d in data] == ["p4", "p3"] and data[0].threshold == 2
    with pytest.raises(Conflict):
        nominations.close_window(
            closed, counts=nominations.count_nominations(ballots), still_employed=STAFF, now=NOW
        )
