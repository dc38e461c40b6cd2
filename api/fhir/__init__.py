"""The FHIR R4 facade under ``/fhir/r4`` (docs/fhir.md): read-only Tasks, Communications and Flags."""
