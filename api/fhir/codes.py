"""The FHIR facade's vocabulary: code systems, identifier systems and the value sets our code
checks itself (``fhir.resources`` validates structure and types, not bindings).

Codes of our own live under ``urn:followthrough:`` (docs/fhir.md lists them); standard ones use
their HL7 systems.
"""

from __future__ import annotations

from typing import Final

FHIR_VERSION: Final = "4.0.1"
MEDIA_TYPE: Final = "application/fhir+json"

# The HL7 SDOH Clinical Care guide's code for a patient task to make contact.
SDOHCC_CODES: Final = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
MAKE_CONTACT: Final = "make-contact"
MAKE_CONTACT_DISPLAY: Final = "Make Contact"

TASK_STATUS_SYSTEM: Final = "http://hl7.org/fhir/task-status"
FLAG_STATUS_SYSTEM: Final = "http://hl7.org/fhir/flag-status"
FLAG_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/flag-category"
NOT_DONE_REASON: Final = "http://terminology.hl7.org/CodeSystem/communication-not-done-reason"

# Ours. The case's id, and the backend's external_id (unique within its team).
CASE_ID_SYSTEM: Final = "urn:followthrough:interaction-id"


def external_id_system(team_id: str) -> str:
    return f"urn:followthrough:team:{team_id}:external-id"


CHANNEL_SYSTEM: Final = "urn:followthrough:channel"
OUTCOME_SYSTEM: Final = "urn:followthrough:attempt-outcome"
TRIGGER_SYSTEM: Final = "urn:followthrough:escalation-trigger"
TASK_INPUT_SYSTEM: Final = "urn:followthrough:task-input"
TASK_OUTPUT_SYSTEM: Final = "urn:followthrough:task-output"

# FHIR R4 required bindings (all codes, not only those we emit: a search may name any of them).
TASK_STATUSES: Final = frozenset(
    {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    }
)
TASK_INTENTS: Final = frozenset(
    {
        "unknown",
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    }
)
REQUEST_PRIORITIES: Final = frozenset({"routine", "urgent", "asap", "stat"})
COMMUNICATION_STATUSES: Final = frozenset(
    {
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
    }
)
FLAG_STATUSES: Final = frozenset({"active", "inactive", "entered-in-error"})


class UnboundCode(ValueError):
    """A code outside its required value set: a bug in the mapping, never the caller's fault."""


def bound(code: str, value_set: frozenset[str], what: str) -> str:
    """``code`` when it is in ``value_set``; the library would let any string through."""
    if code not in value_set:
        raise UnboundCode(f"{what} '{code}' is not in its FHIR value set")
    return code


# Display texts of our codes.
CHANNEL_DISPLAY: Final = {
    "call": "Missed call",
    "voicemail": "Voicemail",
    "text": "Text message",
    "referral": "Referral",
}
OUTCOME_DISPLAY: Final = {
    "reached": "Reached the member",
    "replied": "The member replied",
    "no_answer": "No answer",
    "left_voicemail": "Left a message",
    "busy": "Line busy",
    "wrong_number": "Wrong number",
}
# The standard reason an attempt without contact was not done.
OUTCOME_NOT_DONE: Final = {
    "no_answer": ("recipient-unavailable", "Recipient unavailable"),
    "left_voicemail": ("recipient-unavailable", "Recipient unavailable"),
    "busy": ("recipient-unavailable", "Recipient unavailable"),
    "wrong_number": ("invalid-phone-number", "Invalid phone number"),
}
# How a contact was made, as ``Communication.medium`` (HL7 v3 ParticipationMode, R4's binding):
# our channel → (code, display, text). An attempt whose channel was not said, or "other", has none.
PARTICIPATION_MODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
MEDIUM: Final = {
    "call": ("PHONE", "telephone", "phone call"),
    "voicemail": ("PHONE", "telephone", "voicemail"),
    "text": ("WRITTEN", "written", "text message"),
    "in_person": ("FACE", "face-to-face", "in person"),
}
TRIGGER_DISPLAY: Final = {
    "safety": "Safety concern",
    "sensitive": "Sensitive matter",
    "complaint": "Complaint",
    "outside_role": "Support outside the CHW's role",
    "unreachable": "Member unreachable",
    "deadline_missed": "Response deadline missed",
}
