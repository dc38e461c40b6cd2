"""The CapabilityStatement (``GET /fhir/r4/metadata``): exactly what this server does, built
from the same table the searches are parsed with (``params.SEARCH_PARAMETERS``), so the two
cannot disagree."""

from __future__ import annotations

from fhir.resources.R4B.capabilitystatement import (
    CapabilityStatement,
    CapabilityStatementImplementation,
    CapabilityStatementRest,
    CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction,
    CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity,
    CapabilityStatementSoftware,
)

from api.fhir import codes
from api.fhir.params import RESULT_PARAMETERS, SEARCH_PARAMETERS

# When this statement last changed (what it says, not when it is served).
DATE = "2026-12-05"
HL7_PARAMETERS = "http://hl7.org/fhir/SearchParameter"
# The standard definition of each search parameter, where FHIR R4 defines one (Flag's status is ours).
DEFINITIONS = {
    ("Task", "patient"): "Task-patient",
    ("Task", "owner"): "Task-owner",
    ("Task", "status"): "Task-status",
    ("Task", "code"): "Task-code",
    ("Communication", "part-of"): "Communication-part-of",
    ("Communication", "patient"): "Communication-patient",
    ("Flag", "patient"): "clinical-patient",
}
WHAT = {
    "Task": "A follow-up case (an interaction): one missed call, voicemail, text or referral to answer.",
    "Communication": (
        "A contact attempt on a case (its note as payload for readers of the case's team), or a "
        "contact from the member (id in-…: sender the Patient, received)."
    ),
    "Flag": "An escalation on a case: active while open or acknowledged.",
}
STATUS_DOC = {
    "Flag": "active (open or acknowledged escalations) or inactive (resolved)",
}


def _param(resource_type: str, name: str, kind: str) -> CapabilityStatementRestResourceSearchParam:
    definition = DEFINITIONS.get((resource_type, name))
    if name == "_lastUpdated":
        definition = "Resource-lastUpdated"
    return CapabilityStatementRestResourceSearchParam(
        name=name,
        type=kind,
        definition=f"{HL7_PARAMETERS}/{definition}" if definition else None,
        documentation=(
            "prefixes gt, ge, lt, le; may repeat (all must hold)"
            if name == "_lastUpdated"
            else STATUS_DOC.get(resource_type)
            if name == "status"
            else None
        ),
    )


def capability_statement(base: str, version: str) -> CapabilityStatement:
    resources = [
        CapabilityStatementRestResource(
            type=resource_type,
            documentation=WHAT[resource_type],
            interaction=[
                CapabilityStatementRestResourceInteraction(code="read"),
                CapabilityStatementRestResourceInteraction(code="search-type"),
                *(
                    [
                        CapabilityStatementRestResourceInteraction(
                            code="create",
                            documentation=(
                                "A referral (system tokens): code make-contact, owner Organization/{team}, "
                                "for Patient/{member}, an identifier (a repeat answers the same Task, 200); "
                                "If-None-Exist: identifier=[system]|value."
                            ),
                        )
                    ]
                    if resource_type == "Task"
                    else []
                ),
            ],
            versioning="no-version",
            readHistory=False,
            updateCreate=False,
            conditionalCreate=resource_type == "Task",
            conditionalRead="not-supported",
            conditionalUpdate=False,
            conditionalDelete="not-supported",
            searchParam=[_param(resource_type, name, kind) for name, kind in params.items()],
        )
        for resource_type, params in SEARCH_PARAMETERS.items()
    ]
    return CapabilityStatement(
        status="active",
        date=DATE,
        publisher="Followthrough",
        kind="instance",
        software=CapabilityStatementSoftware(name="Followthrough", version=version),
        implementation=CapabilityStatementImplementation(
            description="Followthrough: follow-up cases as FHIR Tasks (read; referrals in as Task create)",
            url=base,
        ),
        fhirVersion=codes.FHIR_VERSION,
        format=[codes.MEDIA_TYPE, "json"],
        rest=[
            CapabilityStatementRest(
                mode="server",
                documentation=(
                    "Searches page by link.next, ordered by _lastUpdated (oldest first; "
                    "_sort=-_lastUpdated for newest first); result parameters: "
                    f"{', '.join(RESULT_PARAMETERS)}; "
                    "_count defaults to 50, at most 500. An unsupported parameter is refused (400)."
                ),
                security=CapabilityStatementRestSecurity(
                    cors=False,
                    description=(
                        "Bearer tokens of the JSON API (static, service or OpenID Connect): staff read "
                        "their own team, ops and the system read all."
                    ),
                ),
                resource=resources,
            )
        ],
    )
