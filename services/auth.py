"""Who a credential stands for: a bearer token becomes a ``Principal``.

One home for authentication, used by the HTTP API and the console. Three kinds of bearer token:

- **Static tokens** (``FOLLOWTHROUGH_TOKENS``): a JSON map of token → grant; a key may be the
  token itself or ``sha256:<hex>``, its SHA-256, so the settings need not hold the token. Compared
  by hash, in constant time over the whole table.
- **Service tokens** for backends (``followthrough token create``, ``ft_…``): stored hashed in the
  database, revocable at once.
- **OpenID Connect** for people (production): a JWT signed by the issuer's keys (JWKS), for our
  audience; a claim names the staff id. Only a claim the person cannot choose names them: `sub`
  (by default: unique at the one issuer we trust, which the signature and `iss` pin), `email` only
  when the issuer says `email_verified`; `preferred_username` and display names never. An ID token
  is not an access token: a `typ` other than an access token's, or an `azp` other than our
  clients, is refused.

For staff, the staff record is the truth for role and team, whatever the credential said: a lead
demoted to CHW in the team file loses lead rights at once.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import anyio
import httpx
import jwt
import structlog
from sqlalchemy.orm import Session

from config.production import configured_digest, token_digest
from config.settings import UNCLAIMABLE_STAFF_CLAIMS, Settings, TokenGrant
from domain.errors import Forbidden, Unauthorized, Unavailable
from services.access import Principal
from services.db import Database
from services.tokens import STAFF_ROLES, TOKEN_PREFIX, grant_for_hash
from store.models import Staff

log = structlog.get_logger(__name__)

INVALID = "missing or invalid bearer token"
# The ``typ`` an access token may carry, where the issuer sets one: in the header (``JWT``, or
# RFC 9068's ``at+jwt``) and as Keycloak's claim (``Bearer``; its ID tokens say ``ID``). Anything
# else (an ID token, a logout token, ...) is not a key to this API.
ACCESS_TOKEN_HEADER_TYPES = frozenset({"jwt", "at+jwt"})
ACCESS_TOKEN_CLAIM_TYPES = frozenset({"bearer", "at+jwt"})
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
OIDC_TIMEOUT_SECONDS = 5.0


def _staff(session: Session, staff_id: str) -> tuple[str, str] | None:
    staff = session.get(Staff, staff_id)
    return (staff.role, staff.team_id) if staff is not None else None


@lru_cache(maxsize=16)
def _static_table(entries: tuple[tuple[str, str, str | None], ...]) -> tuple[tuple[bytes, TokenGrant], ...]:
    return tuple(
        (bytes.fromhex(configured_digest(key)), TokenGrant.model_validate({"role": role, "staff_id": staff}))
        for key, role, staff in entries
    )


def static_grant(settings: Settings, token: str) -> TokenGrant | None:
    """The grant of a ``FOLLOWTHROUGH_TOKENS`` token (given as itself or by its SHA-256), or None.

    Every entry is compared, in constant time, so the answer's timing says nothing about the table.
    """
    entries = tuple(sorted((k, g.role, g.staff_id) for k, g in settings.tokens.items()))
    digest = bytes.fromhex(token_digest(token))
    found = None
    for configured, grant in _static_table(entries):
        if hmac.compare_digest(configured, digest):
            found = grant
    return found


async def principal_for(db: Database, grant: TokenGrant) -> Principal:
    """The caller a grant names, with role and team from the staff record for staff."""
    if grant.role not in STAFF_ROLES:
        return Principal(role=grant.role, staff_id=grant.staff_id)
    if grant.staff_id is None:
        raise Forbidden("this staff token names no staff_id")
    return await _staff_principal(db, grant.staff_id)


async def _staff_principal(db: Database, staff_id: str) -> Principal:
    found = await db.run(_staff, staff_id)
    if found is None:
        raise Forbidden("this token's staff member is not on any team")
    role, team_id = found
    if role not in STAFF_ROLES:
        raise Forbidden("this token's staff member has no staff role")
    return Principal(role=role, staff_id=staff_id, team_id=team_id)  # type: ignore[arg-type]


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


class OidcVerifier:
    """Checks OIDC bearer JWTs against the issuer's published keys (cached, refreshed on a new kid)."""

    def __init__(
        self, issuer: str, audience: str, jwks_url: str | None, parties: frozenset[str] = frozenset()
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        # Who may have asked for a token we accept (``azp``, when the issuer sets it).
        self.parties = parties | {audience}
        self._jwks_url = jwks_url
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self._jwks_url
                if url is None:
                    discovery = f"{self.issuer}/.well-known/openid-configuration"
                    resp = httpx.get(discovery, timeout=OIDC_TIMEOUT_SECONDS)
                    resp.raise_for_status()
                    url = str(resp.json()["jwks_uri"])
                self._client = jwt.PyJWKClient(
                    url, cache_keys=True, lifespan=600, timeout=int(OIDC_TIMEOUT_SECONDS)
                )
            return self._client

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims, or ``Unauthorized`` (``Unavailable`` when the issuer cannot be reached)."""
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=JWT_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
                leeway=30,
            )
        except (jwt.PyJWKClientConnectionError, httpx.HTTPError, KeyError) as err:
            log.warning("oidc.keys_unavailable", error_type=type(err).__name__)
            raise Unavailable("the sign-in provider cannot be reached; try again shortly") from None
        except (jwt.PyJWTError, ValueError):
            raise Unauthorized(INVALID) from None
        if not self._is_access_token(jwt.get_unverified_header(token), claims):
            raise Unauthorized(INVALID)
        return claims

    def _is_access_token(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
        """Not an ID token (``typ``), and issued to one of our clients (``azp``), where the issuer
        says so: an ID token a person's browser holds for some app is no key to this API."""
        for typ, allowed in (
            (header.get("typ"), ACCESS_TOKEN_HEADER_TYPES),
            (claims.get("typ"), ACCESS_TOKEN_CLAIM_TYPES),
        ):
            if typ is not None and str(typ).strip().lower().removeprefix("application/") not in allowed:
                log.info("oidc.token_type_refused", typ=str(typ)[:40])
                return False
        azp = claims.get("azp")
        if azp is not None and azp not in self.parties:
            log.info("oidc.foreign_client_refused")
            return False
        return True


@lru_cache(maxsize=4)
def _verifier(issuer: str, audience: str, jwks_url: str | None, parties: frozenset[str]) -> OidcVerifier:
    return OidcVerifier(issuer, audience, jwks_url, parties)


def oidc_verifier(settings: Settings) -> OidcVerifier | None:
    if not (settings.oidc_issuer and settings.oidc_audience):
        return None
    parties = frozenset(settings.oidc_authorized_parties) | (
        {settings.oidc_client_id} if settings.oidc_client_id else set()
    )
    return _verifier(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url, parties)


def _claimed_roles(claims: Mapping[str, Any], claim: str) -> set[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()


def claimed_identity(settings: Settings, claims: Mapping[str, Any]) -> str | None:
    """The staff id a verified token names, if its claim is one the person cannot choose.

    ``sub`` is assigned by the issuer (and we trust one issuer, so it is "``sub`` at that issuer");
    ``email`` counts only with ``email_verified`` true (else anyone who signs up at a self-service
    provider with a colleague's address becomes them); ``preferred_username`` and the like never
    (settings refuse them as the staff claim; this is the second lock).
    """
    claim = settings.oidc_staff_claim
    if claim in UNCLAIMABLE_STAFF_CLAIMS:
        return None
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        return None
    if claim == "email" and claims.get("email_verified") not in (True, "true"):
        return None
    return value


async def principal_from_claims(db: Database, settings: Settings, claims: Mapping[str, Any]) -> Principal:
    """Staff by their record; ops staff (no record needed) by the role claim or ``oidc_ops_ids``."""
    staff_id = claimed_identity(settings, claims)
    if staff_id is not None and await db.run(_staff, staff_id) is not None:
        return await _staff_principal(db, staff_id)
    if "ops" in _claimed_roles(claims, settings.oidc_role_claim) or (
        staff_id is not None and staff_id in settings.oidc_ops_ids
    ):
        return Principal(role="ops", staff_id=staff_id)
    if settings.oidc_staff_claim == "email" and claims.get("email") and staff_id is None:
        raise Forbidden("this sign-in's email address is not verified by the identity provider")
    raise Forbidden("this sign-in names no Followthrough staff member")


async def authenticate(db: Database, settings: Settings, token: str) -> Principal:
    """The caller a bearer token stands for; ``Unauthorized`` when it stands for nobody."""
    token = token.strip()
    if not token:
        raise Unauthorized(INVALID)
    grant = static_grant(settings, token)
    if grant is None and token.startswith(TOKEN_PREFIX):
        grant = await db.run(grant_for_hash, token_digest(token))
    if grant is not None:
        return await principal_for(db, grant)
    verifier = oidc_verifier(settings)
    if verifier is not None and looks_like_jwt(token):
        with anyio.fail_after(OIDC_TIMEOUT_SECONDS * 2):
            claims = await anyio.to_thread.run_sync(verifier.claims, token)
        return await principal_from_claims(db, settings, claims)
    raise Unauthorized(INVALID)
