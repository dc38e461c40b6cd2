"""Notification grouping and inhibition (docs/rules.md §2.8), as the pure plan computes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings, strategies as st

from domain.grouping import Notice, NotificationPolicy, plan_deliveries, stored_policy

T0 = datetime(2026, 11, 17, 23, 0, tzinfo=UTC)  # 17:00 in Chicago: the team closes
POLICY = NotificationPolicy()


def notice(i: int, *, at: datetime = T0, to: str = "lead-1", **over: object) -> Notice:
    return Notice.model_validate(
        {
            "id": f"n{i}",
            "at": at,
            "recipient_id": to,
            "kind": "escalation",
            "trigger": "deadline_missed",
            **over,
        }
    )


def test_forty_overdue_at_close_are_one_delivery_after_the_group_wait() -> None:
    notices = [notice(i, at=T0 + timedelta(milliseconds=200 * i)) for i in range(40)]
    deliveries, inhibited = plan_deliveries(POLICY, notices)
    assert inhibited == []
    [d] = deliveries
    assert d.at == T0 + timedelta(seconds=30) and d.reason == "group_wait"
    assert sorted(d.notice_ids) == sorted(n.id for n in notices)


def test_safety_goes_at_once_and_alone_while_the_group_waits() -> None:
    notices = [notice(i) for i in range(10)] + [notice(99, at=T0 + timedelta(seconds=3), trigger="safety")]
    deliveries, _ = plan_deliveries(POLICY, notices)
    assert [(d.at - T0, len(d.notice_ids), d.reason) for d in deliveries] == [
        (timedelta(seconds=3), 1, "bypass"),
        (timedelta(seconds=30), 10, "group_wait"),
    ]


def test_more_than_the_maximum_follow_at_once_in_further_deliveries() -> None:
    deliveries, _ = plan_deliveries(POLICY, [notice(i) for i in range(120)])
    assert [len(d.notice_ids) for d in deliveries] == [50, 50, 20]
    assert {d.at for d in deliveries} == {T0 + timedelta(seconds=30)}


def test_a_group_soon_after_a_delivery_waits_for_the_group_interval() -> None:
    later = T0 + timedelta(minutes=1)
    deliveries, _ = plan_deliveries(POLICY, [notice(1), notice(2, at=later)])
    assert [d.at - T0 for d in deliveries] == [timedelta(seconds=30), timedelta(seconds=30, minutes=5)]
    assert deliveries[1].reason == "group_interval"


def test_recipients_are_grouped_apart() -> None:
    deliveries, _ = plan_deliveries(POLICY, [notice(1, to="lead-1"), notice(2, to="mgr-1")])
    assert sorted((d.recipient_id, d.notice_ids[0]) for d in deliveries) == [
        ("lead-1", "n1"),
        ("mgr-1", "n2"),
    ]


def test_an_open_safety_escalation_inhibits_deadline_and_unreachable_notices_for_its_member() -> None:
    notices = [
        notice(1, trigger="safety", member_id="mem-9"),
        notice(2, at=T0 + timedelta(seconds=1), member_id="mem-9"),
        notice(3, at=T0 + timedelta(seconds=2), member_id="mem-9", trigger="unreachable"),
        notice(4, at=T0 + timedelta(seconds=2), member_id="mem-1"),  # another member: delivered
        notice(5, at=T0 + timedelta(seconds=3), member_id="mem-9", trigger="safety", escalation="resolved"),
        notice(6, at=T0 + timedelta(seconds=4), member_id="mem-9"),  # after the resolve: delivered
    ]
    deliveries, inhibited = plan_deliveries(POLICY, notices)
    assert [i.notice_id for i in inhibited] == ["n2", "n3"]
    assert sorted(n for d in deliveries for n in d.notice_ids) == ["n1", "n4", "n6"]


def test_bypass_is_data() -> None:
    policy = NotificationPolicy(bypass=[])
    deliveries, _ = plan_deliveries(policy, [notice(1, trigger="safety")])
    assert deliveries[0].reason == "group_wait"


def test_a_stored_team_without_the_block_groups_and_an_explicit_null_does_not() -> None:
    assert stored_policy({"name": "Eastside CHWs"}) == POLICY  # saved without it, or before 0018
    assert stored_policy({"notifications": None}) is None
    assert stored_policy({"notifications": {"group_wait_seconds": 10}}) == NotificationPolicy(
        group_wait_seconds=10
    )


def test_without_a_policy_every_notice_goes_at_once_alone_and_inhibition_still_holds() -> None:
    notices = [
        notice(1),
        notice(2),
        notice(3, at=T0 + timedelta(seconds=2), trigger="safety", member_id="mem-9"),
        notice(4, at=T0 + timedelta(seconds=3), member_id="mem-9"),  # inhibited by the safety one
    ]
    deliveries, inhibited = plan_deliveries(None, notices)
    assert [(d.at - T0, d.notice_ids, d.reason) for d in deliveries] == [
        (timedelta(0), ["n1"], "ungrouped"),
        (timedelta(0), ["n2"], "ungrouped"),
        (timedelta(seconds=2), ["n3"], "ungrouped"),
    ]
    assert [i.notice_id for i in inhibited] == ["n4"]


notices_st = st.lists(
    st.builds(
        lambda i, s, r, t: notice(i, at=T0 + timedelta(seconds=s), to=r, trigger=t),
        st.integers(0, 10_000),
        st.integers(0, 3600),
        st.sampled_from(["lead-1", "lead-2", "mgr-1"]),
        st.sampled_from(["deadline_missed", "safety", "unreachable", None]),
    ),
    max_size=60,
    unique_by=lambda n: n.id,
)


@settings(max_examples=150, deadline=None)
@given(notices_st, st.integers(0, 120), st.integers(0, 30), st.integers(1, 60))
def test_every_notice_is_delivered_once_never_early_and_within_bounds(
    notices: list[Notice], wait: int, interval: int, size: int
) -> None:
    policy = NotificationPolicy(
        group_wait_seconds=wait, group_interval_minutes=interval, max_items_per_delivery=size
    )
    deliveries, inhibited = plan_deliveries(policy, notices)
    assert inhibited == []  # no member ids: nothing is inhibited
    delivered = [n for d in deliveries for n in d.notice_ids]
    assert sorted(delivered) == sorted(n.id for n in notices)
    by_id = {n.id: n for n in notices}
    for d in deliveries:
        assert 1 <= len(d.notice_ids) <= size
        assert all(by_id[n].recipient_id == d.recipient_id for n in d.notice_ids)
        assert all(by_id[n].at <= d.at for n in d.notice_ids)
        # Nothing waits longer than the group wait plus the group interval.
        assert all(d.at - by_id[n].at <= timedelta(seconds=wait, minutes=interval) for n in d.notice_ids)
        if d.reason == "bypass":
            assert len(d.notice_ids) == 1 and by_id[d.notice_ids[0]].trigger == "safety"
