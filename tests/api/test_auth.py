"""Who a bearer token stands for: static tokens (also by SHA-256), service tokens (stored hashed,
revocable), OpenID Connect JWTs; the staff record is the truth for role and team."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from config.settings import Settings, TokenGrant
from store.db import unit_of_work
from store.models import Staff
from tests.conftest import TOKENS, auth

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
REPORT = "/v1/reports/sla?team_id=eastside&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"
ISSUER = "https://sso.example.org/realms/chw"
AUDIENCE = "followthrough"


def app_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://test")


@pytest_asyncio.fixture(loop_scope="session")
async def plain_api(db_url: str, sessions: sessionmaker[Session]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(Settings(database_url=db_url, tokens=TOKENS)) as c:
        yield c


@SQLITE_ONLY
async def test_a_token_given_by_its_sha256_works_and_the_settings_hold_no_token(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    secret = "a-long-random-token-for-the-phone-system"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    tokens = {
        f"sha256:{digest}": TokenGrant(role="system"),
        "t-lead": TokenGrant(role="lead", staff_id="lead-1"),
    }
    async with app_client(Settings(database_url=db_url, tokens=tokens)) as api:
        assert (await api.get(REPORT, headers=auth(secret))).status_code == 200
        # The hash itself is not a token.
        assert (await api.get(REPORT, headers=auth(digest))).status_code == 401
        assert (await api.get(REPORT, headers=auth(f"sha256:{digest}"))).status_code == 401
        assert (await api.get(REPORT, headers=auth("t-lead"))).status_code == 200


@SQLITE_ONLY
async def test_a_demoted_lead_loses_lead_rights_at_once(
    plain_api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    lead = auth("t-lead")
    assert (await plain_api.get(REPORT, headers=lead)).status_code == 200
    with unit_of_work(sessions) as s:
        staff = s.get(Staff, "lead-1")
        assert staff is not None
        staff.role = "chw"  # the team file now says lead-1 is a CHW; the token still says lead
    r = await plain_api.get(REPORT, headers=lead)
    assert r.status_code == 403, r.text
    with unit_of_work(sessions) as s:
        s.delete(s.get(Staff, "lead-1"))  # left the team: the token reaches nothing
    assert (await plain_api.get(REPORT, headers=lead)).status_code == 403
    assert (await plain_api.get("/v1/teams/eastside/staff", headers=lead)).status_code == 403


class Issuer:
    """A local OpenID provider: discovery document and JWKS over HTTP, and a signer."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/.well-known/openid-configuration"):
                    body: dict[str, object] = {"issuer": ISSUER, "jwks_uri": f"{issuer.base}/jwks"}
                else:
                    body = {"keys": [jwk]}
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    i = Issuer()
    yield i
    i.server.shutdown()


@SQLITE_ONLY
async def test_oidc_tokens_sign_people_in_by_their_staff_record(
    db_url: str, sessions: sessionmaker[Session], issuer: Issuer
) -> None:
    settings = Settings(
        database_url=db_url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=f"{issuer.base}/jwks",
    )
    async with app_client(settings) as api:
        assert (await api.get(REPORT, headers=auth(issuer.token(sub="lead-1")))).status_code == 200
        # A CHW is a CHW whatever the token claims.
        chw = issuer.token(sub="chw-ana", followthrough_role="lead")
        assert (await api.get(REPORT, headers=auth(chw))).status_code == 403
        assert (await api.get("/v1/teams/eastside/staff", headers=auth(chw))).status_code == 200
        # Ops staff need no staff record; the role claim says ops.
        ops = issuer.token(sub="someone@ops", followthrough_role=["viewer", "ops"])
        assert (await api.get(REPORT, headers=auth(ops))).status_code == 200
        # Nobody we know, a wrong audience, an expired token, a forged signature.
        stranger = issuer.token(sub="nobody")
        assert (await api.get(REPORT, headers=auth(stranger))).status_code == 403
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for bad in (
            issuer.token(sub="lead-1", aud="someone-else"),
            issuer.token(sub="lead-1", exp=int(time.time()) - 3600),
            issuer.token(other_key, sub="lead-1"),
            issuer.token(sub="lead-1", iss="https://evil.example"),
        ):
            r = await api.get(REPORT, headers=auth(bad))
            assert r.status_code == 401, r.text
            assert r.json()["error"]["code"] == "unauthorized"


@SQLITE_ONLY
async def test_oidc_keys_are_found_through_the_issuers_discovery_document(
    db_url: str, sessions: sessionmaker[Session], issuer: Issuer
) -> None:
    settings = Settings(database_url=db_url, oidc_issuer=issuer.base, oidc_audience=AUDIENCE)
    token = jwt.encode(
        {"iss": issuer.base, "aud": AUDIENCE, "exp": int(time.time()) + 60, "sub": "lead-1"},
        issuer.key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    async with app_client(settings) as api:
        assert (await api.get(REPORT, headers=auth(token))).status_code == 200


async def test_openapi_declares_the_bearer_scheme_so_docs_can_authorize(tmp_path: Path) -> None:
    schema = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")).openapi()
    schemes = schema["components"]["securitySchemes"]
    assert any(s == {**s, "type": "http", "scheme": "bearer"} for s in schemes.values())
    interactions = schema["paths"]["/v1/interactions"]["post"]
    assert interactions.get("security"), "actions say they need the token"


# ---------------------------------------------------------------- identity that cannot be claimed
def _oidc(db_url: str, issuer: Issuer, **over: Any) -> Settings:
    return Settings(
        database_url=db_url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=f"{issuer.base}/jwks",
        **over,
    )


@SQLITE_ONLY
async def test_an_email_names_staff_only_when_the_issuer_verified_it(
    db_url: str, sessions: sessionmaker[Session], issuer: Issuer
) -> None:
    """With the staff id taken from ``email``, registering a colleague's address at a self-signup
    provider (``email_verified`` false or absent) makes nobody that colleague, nor ops."""
    with unit_of_work(sessions) as s:
        s.add(Staff(id="lee@example.org", team_id="eastside", name="Lee", role="lead"))
    settings = _oidc(db_url, issuer, oidc_staff_claim="email", oidc_ops_ids=["ops@example.org"])
    async with app_client(settings) as api:
        for email in ("lee@example.org", "ops@example.org"):
            for unverified in ({}, {"email_verified": False}, {"email_verified": "false"}):
                r = await api.get(REPORT, headers=auth(issuer.token(sub="x", email=email, **unverified)))
                assert r.status_code == 403, (email, unverified, r.text)
            verified = issuer.token(sub="x", email=email, email_verified=True)
            assert (await api.get(REPORT, headers=auth(verified))).status_code == 200


def test_a_claim_people_choose_cannot_name_staff_and_nobody_is_ops_by_default() -> None:
    for claim in ("preferred_username", "name", "nickname"):
        with pytest.raises(ValidationError, match="OIDC_STAFF_CLAIM"):
            Settings(oidc_staff_claim=claim)
    defaults = Settings()
    assert defaults.oidc_staff_claim == "sub" and defaults.oidc_ops_ids == []


@SQLITE_ONLY
async def test_an_id_token_or_another_clients_token_is_not_an_access_token(
    db_url: str, sessions: sessionmaker[Session], issuer: Issuer
) -> None:
    """``typ`` and ``azp`` are checked where the issuer sets them."""

    def signed(header_typ: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "sub": "lead-1", **claims}
        headers = {"kid": "k1", **({"typ": header_typ} if header_typ else {})}
        return jwt.encode(body, issuer.key, algorithm="RS256", headers=headers)

    settings = _oidc(
        db_url, issuer, oidc_client_id="followthrough-console", oidc_authorized_parties=["temporal-ui"]
    )
    async with app_client(settings) as api:
        accepted = [
            signed(),
            signed("JWT", typ="Bearer"),
            signed("at+jwt"),
            signed("application/at+jwt"),
            signed(azp=AUDIENCE),
            signed(azp="followthrough-console"),
            signed(azp="temporal-ui"),
        ]
        for token in accepted:
            r = await api.get(REPORT, headers=auth(token))
            assert r.status_code == 200, (jwt.get_unverified_header(token), r.text)
        refused = [
            signed(typ="ID"),  # Keycloak's ID token
            signed("JWT", typ="Refresh"),
            signed("logout+jwt"),
            signed(azp="some-other-app"),  # issued to another client of the same IdP
        ]
        for token in refused:
            r = await api.get(REPORT, headers=auth(token))
            assert r.status_code == 401, (jwt.decode(token, options={"verify_signature": False}), r.text)


@SQLITE_ONLY
async def test_unsigned_key_confused_and_unknown_key_tokens_are_refused(
    db_url: str, sessions: sessionmaker[Session], issuer: Issuer
) -> None:
    """The review's JWT checks, kept: ``alg: none``, an HMAC token keyed with the issuer's public
    key (key confusion), and a key id the issuer never published are all 401."""
    from cryptography.hazmat.primitives import serialization

    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "sub": "lead-1"}
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(body).encode())
    unsigned = f"{header.decode()}.{payload.decode()}."
    confused_header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    signing_input = f"{confused_header.decode()}.{payload.decode()}".encode()
    mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    confused = f"{signing_input.decode()}.{jwt.utils.base64url_encode(mac).decode()}"
    unknown_kid = jwt.encode(body, issuer.key, algorithm="RS256", headers={"kid": "k-unknown"})
    async with app_client(_oidc(db_url, issuer)) as api:
        assert (await api.get(REPORT, headers=auth(issuer.token(sub="lead-1")))).status_code == 200
        for token in (unsigned, confused, unknown_kid):
            r = await api.get(REPORT, headers=auth(token))
            assert r.status_code == 401, (jwt.get_unverified_header(token), r.text)
