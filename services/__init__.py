"""The application layer: every operation that spans the read model (SQL) and Temporal.

One module per concern (interactions, escalations, absences, routing, check-ins, reports,
teams). The HTTP API (``api/``) and the command line (``cli/``) both call these; a route only
parses, authorizes (with the rules in ``services.access``), calls a service and presents.
Services raise the ``domain.errors`` vocabulary and never import ``api``.
"""
