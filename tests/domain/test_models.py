"""TeamConfig validation and defaults, as the team API body and the entry point define them."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from domain.models import (
    CHANNELS,
    FLAGS,
    OUTCOMES,
    TRIGGERS,
    UNSUCCESSFUL_OUTCOMES,
    WEEKDAYS,
    CalendarConfig,
    EscalationLevel,
    EscalationRule,
    Policy,
    TeamConfig,
    default_escalation_rule,
)
from tests.domain.support import calendar_body

CONTRACT_BODY: dict[str, Any] = {
    "name": "Eastside CHWs",
    "calendar": {
        "timezone": "America/Chicago",
        "hours": {
            "mon": [["09:00", "17:00"]],
            "tue": [["09:00", "17:00"]],
            "wed": [["09:00", "12:00"], ["13:00", "17:00"]],
            "thu": [["09:00", "17:00"]],
            "fri": [["09:00", "17:00"]],
        },
        "holiday_country": "US",
        "holiday_subdivision": None,
        "closures": ["2026-12-24"],
    },
    "policy": {
        "same_day_cutoff_minutes": 60,
        "text_response_business_minutes": 480,
        "urgent_response_business_minutes": 120,
        "due_soon_minutes": 60,
        "retry_spacing_business_minutes": 120,
        "max_attempts": 3,
        "referral_response_business_days": 2,
        "merge_repeat_contacts": True,
    },
    "escalation_matrix": {
        "safety": {
            "levels": [
                {"role": "lead", "ack_within_minutes": 15},
                {"role": "manager", "ack_within_minutes": 15},
            ],
            "resolve_within_minutes": 240,
            "clock": "wall",
            "documentation_required": True,
        }
    },
}


def body(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(CONTRACT_BODY)
    result.update(changes)
    return result


def with_calendar(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(CONTRACT_BODY)
    result["calendar"].update(changes)
    return result


def assert_invalid(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        TeamConfig.model_validate(data)
    assert fragment in str(info.value)


# --- the documented body -------------------------------------------------------------


def test_spec_example_body_validates() -> None:
    cfg = TeamConfig.model_validate(CONTRACT_BODY)
    assert cfg.name == "Eastside CHWs"
    assert cfg.calendar.hours["wed"] == [("09:00", "12:00"), ("13:00", "17:00")]
    assert cfg.calendar.closures == [date(2026, 12, 24)]
    assert cfg.escalation_matrix["safety"].clock == "wall"


def test_spec_example_body_round_trips_through_json() -> None:
    cfg = TeamConfig.model_validate(CONTRACT_BODY)
    dumped = cfg.model_dump(mode="json")
    assert dumped["calendar"] == CONTRACT_BODY["calendar"]
    assert dumped["policy"] == CONTRACT_BODY["policy"]
    assert dumped["escalation_matrix"]["safety"]["levels"][0]["role"] == "lead"
    assert TeamConfig.model_validate(dumped) == cfg


def test_intervals_are_sorted_and_weekdays_ordered() -> None:
    cfg = CalendarConfig.model_validate(
        calendar_body(hours={"fri": [["13:00", "17:00"], ["09:00", "12:00"]], "mon": [["09:00", "17:00"]]})
    )
    assert list(cfg.hours) == ["mon", "fri"]
    assert cfg.hours["fri"] == [("09:00", "12:00"), ("13:00", "17:00")]


def test_touching_intervals_are_not_overlapping() -> None:
    cfg = CalendarConfig.model_validate(
        calendar_body(hours={"mon": [["09:00", "12:00"], ["12:00", "17:00"]]})
    )
    assert len(cfg.hours["mon"]) == 2


def test_night_shift_with_24_00_end_is_valid() -> None:
    cfg = CalendarConfig.model_validate(
        calendar_body(hours={"mon": [["20:00", "24:00"]], "tue": [["00:00", "04:00"]]})
    )
    assert cfg.hours["mon"] == [("20:00", "24:00")]


# --- defaults -------------------------------------------------------------------------


def test_empty_matrix_gets_the_six_default_triggers() -> None:
    cfg = TeamConfig.model_validate(body(escalation_matrix={}))
    assert tuple(cfg.escalation_matrix) == TRIGGERS
    for trigger, rule in cfg.escalation_matrix.items():
        assert [level.role for level in rule.levels] == ["lead", "manager"]
        assert rule.documentation_required
        assert rule == default_escalation_rule(trigger)


def test_default_safety_rule_runs_on_the_wall_clock() -> None:
    rule = default_escalation_rule("safety")
    assert rule.clock == "wall"
    assert [level.ack_within_minutes for level in rule.levels] == [15, 15]
    assert rule.resolve_within_minutes == 240


def test_default_non_safety_rules_run_on_business_time() -> None:
    for trigger in TRIGGERS:
        if trigger == "safety":
            continue
        rule = default_escalation_rule(trigger)
        assert rule.clock == "business"
        assert [level.ack_within_minutes for level in rule.levels] == [60, 60]
        assert rule.resolve_within_minutes == 480


def test_omitted_policy_and_matrix_take_defaults() -> None:
    data = body()
    del data["policy"], data["escalation_matrix"]
    cfg = TeamConfig.model_validate(data)
    assert cfg.policy == Policy()
    assert cfg.policy.max_attempts == 3
    assert set(cfg.escalation_matrix) == set(TRIGGERS)


def test_partial_policy_keeps_other_defaults() -> None:
    cfg = TeamConfig.model_validate(body(policy={"max_attempts": 5}))
    assert cfg.policy.max_attempts == 5
    assert cfg.policy.text_response_business_minutes == 480


def test_given_safety_entry_without_clock_gets_wall() -> None:
    rule = {"levels": [{"staff_id": "s-1", "ack_within_minutes": 5}], "resolve_within_minutes": 30}
    cfg = TeamConfig.model_validate(body(escalation_matrix={"safety": rule, "complaint": rule}))
    assert cfg.escalation_matrix["safety"].clock == "wall"
    assert cfg.escalation_matrix["complaint"].clock == "business"
    assert cfg.escalation_matrix["safety"].levels[0].staff_id == "s-1"
    assert cfg.escalation_matrix["unreachable"] == default_escalation_rule("unreachable")


def test_safety_rule_object_without_clock_gets_wall() -> None:
    rule = EscalationRule(
        levels=[EscalationLevel(role="lead", ack_within_minutes=5)], resolve_within_minutes=30
    )
    cfg = TeamConfig(
        name="x", calendar=CalendarConfig.model_validate(calendar_body()), escalation_matrix={"safety": rule}
    )
    assert cfg.escalation_matrix["safety"].clock == "wall"


def test_explicit_business_clock_for_safety_is_kept() -> None:
    data = body()
    data["escalation_matrix"]["safety"]["clock"] = "business"
    assert TeamConfig.model_validate(data).escalation_matrix["safety"].clock == "business"


def test_enum_tuples_match_the_spec() -> None:
    assert WEEKDAYS == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert CHANNELS == ("call", "voicemail", "text", "referral")
    assert FLAGS == ("urgent", "safety", "outside_role", "complaint", "sensitive")
    assert OUTCOMES == ("reached", "replied", "no_answer", "left_voicemail", "busy", "wrong_number")
    assert UNSUCCESSFUL_OUTCOMES == ("no_answer", "left_voicemail", "busy")


def test_holiday_country_is_normalised_to_upper_case() -> None:
    assert CalendarConfig.model_validate(calendar_body(holiday_country="gb")).holiday_country == "GB"


# --- rejected config ------------------------------------------------------------------


def test_unknown_time_zone_is_rejected() -> None:
    assert_invalid(with_calendar(timezone="Mars/Olympus_Mons"), "unknown time zone 'Mars/Olympus_Mons'")


def test_path_like_time_zone_is_rejected() -> None:
    assert_invalid(with_calendar(timezone="/etc/passwd"), "unknown time zone")


def test_unknown_holiday_country_is_rejected() -> None:
    assert_invalid(with_calendar(holiday_country="XX"), "unknown holiday country 'XX'")


def test_unknown_holiday_subdivision_is_rejected() -> None:
    assert_invalid(with_calendar(holiday_subdivision="ZZ"), "unknown holiday subdivision 'ZZ'")


def test_subdivision_without_country_is_rejected() -> None:
    assert_invalid(with_calendar(holiday_country=None, holiday_subdivision="CA"), "needs a holiday_country")


def test_interval_ending_before_it_starts_is_rejected() -> None:
    assert_invalid(with_calendar(hours={"mon": [["17:00", "09:00"]]}), "mon: interval ['17:00', '09:00']")
    assert_invalid(with_calendar(hours={"mon": [["17:00", "09:00"]]}), "must end after it starts")


def test_empty_interval_is_rejected() -> None:
    assert_invalid(with_calendar(hours={"tue": [["09:00", "09:00"]]}), "must end after it starts")


def test_overlapping_intervals_are_rejected() -> None:
    assert_invalid(
        with_calendar(hours={"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}), "overlapping intervals on mon"
    )


def test_24_00_as_a_start_is_rejected() -> None:
    assert_invalid(with_calendar(hours={"mon": [["24:00", "24:00"]]}), "only allowed as the end")


def test_hour_25_is_rejected() -> None:
    assert_invalid(with_calendar(hours={"mon": [["09:00", "25:00"]]}), "invalid time '25:00'")


def test_malformed_time_is_rejected() -> None:
    assert_invalid(with_calendar(hours={"mon": [["9am", "17:00"]]}), "invalid time '9am'")


def test_unknown_weekday_is_rejected() -> None:
    assert_invalid(with_calendar(hours={"monday": [["09:00", "17:00"]]}), "monday")


def test_week_without_open_hours_is_rejected() -> None:
    assert_invalid(with_calendar(hours={"mon": []}), "no open hours")


def test_negative_minutes_are_rejected() -> None:
    assert_invalid(body(policy={"same_day_cutoff_minutes": -1}), "greater than or equal to 0")
    assert_invalid(body(policy={"due_soon_minutes": -5}), "due_soon_minutes")


def test_zero_business_minute_responses_are_rejected() -> None:
    assert_invalid(body(policy={"text_response_business_minutes": 0}), "greater than 0")


def test_max_attempts_below_one_is_rejected() -> None:
    assert_invalid(body(policy={"max_attempts": 0}), "max_attempts")


def test_unknown_field_is_rejected() -> None:
    assert_invalid(body(policy={"max_atempts": 4}), "max_atempts")
    assert_invalid(body(colour="blue"), "Extra inputs are not permitted")


def test_level_with_both_role_and_staff_id_is_rejected() -> None:
    matrix = {
        "complaint": {
            "levels": [{"role": "lead", "staff_id": "s-1", "ack_within_minutes": 10}],
            "resolve_within_minutes": 60,
        }
    }
    assert_invalid(body(escalation_matrix=matrix), "exactly one of 'role' or 'staff_id'")


def test_level_with_neither_role_nor_staff_id_is_rejected() -> None:
    matrix = {"complaint": {"levels": [{"ack_within_minutes": 10}], "resolve_within_minutes": 60}}
    assert_invalid(body(escalation_matrix=matrix), "exactly one of 'role' or 'staff_id'")


def test_rule_without_levels_is_rejected() -> None:
    matrix = {"complaint": {"levels": [], "resolve_within_minutes": 60}}
    assert_invalid(body(escalation_matrix=matrix), "levels")


def test_unknown_trigger_is_rejected() -> None:
    matrix = {
        "weather": {"levels": [{"role": "lead", "ack_within_minutes": 1}], "resolve_within_minutes": 60}
    }
    assert_invalid(body(escalation_matrix=matrix), "weather")


def test_empty_name_is_rejected() -> None:
    assert_invalid(body(name=""), "name")
