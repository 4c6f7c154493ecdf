"""OpenID Connect provider with DATEV's rules: code flow with PKCE S256, rotating single-use refresh
tokens, 11-hour (or 2-year with offline_access) session lifetime, mandatory token_type_hint on revoke."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from datev_emulator.context import Context
from datev_emulator.responses import JSON, json_response, oauth_error

LOG = logging.getLogger("datev_emulator")
ACCESS_TOKEN_SECONDS = 900
CODE_SECONDS = 60
SHORT_SESSION_SECONDS = 11 * 3600  # without offline_access, counted from the first issue of the grant
OFFLINE_SESSION_SECONDS = 2 * 365 * 24 * 3600
MIN_STATE_NONCE = 20
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43,128}")
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
MAX_CLIENT_ID = 60

KNOWN_SCOPES = frozenset(
    {
        "openid",
        "profile",
        "email",
        "account_id",
        "offline_access",
        "datev:accounting:clients",
        "datev:accounting:extf-files-import",
        "accounting:clients:read",
        "accounting:documents",
        "accounting:dxso-jobs",
        "datev:accounting:exchange",
        "datev:accounting:invoices",
    }
)

TEST_USER = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "name": "Erika Mustermann",
    "email": "erika.mustermann@example.com",
    "account_id": "emulator-account-0001",
}

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _hash(secret: str) -> str:
    """Codes and refresh tokens are stored only as hashes."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issuer_base(request: Request) -> str:
    return request.host_url.rstrip("/")


def redirect_allowed(uri: str, registered: list[str]) -> bool:
    if uri in registered:
        return True
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    # RFC 8252 7.3: loopback redirect URIs may use any port.
    return (
        parts.scheme == "http"
        and parts.hostname in ("127.0.0.1", "localhost")
        and parts.username is None
        and not parts.fragment
    )


@dataclass(frozen=True)
class TokenInfo:
    client_id: str
    scopes: frozenset[str]
    sub: str
    grant_id: str


class OAuthServer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- state helpers -------------------------------------------------------------------------------
    def _oauth(self) -> dict[str, Any]:
        doc = self.ctx.store.doc("oauth")
        for key in ("codes", "grants", "refresh", "access"):
            doc.setdefault(key, {})
        return doc

    def _registry(self) -> dict[str, dict[str, Any]]:
        return self.ctx.store.doc("registry").setdefault("oauth_clients", {})

    def _save(self) -> None:
        self.ctx.store.save("oauth")

    # -- discovery, keys -----------------------------------------------------------------------------
    def discovery(self, request: Request) -> Response:
        base = issuer_base(request)
        return json_response(
            {
                "issuer": f"{base}/openid",
                "authorization_endpoint": f"{base}/openid/authorize",
                "token_endpoint": f"{base}/token",
                "revocation_endpoint": f"{base}/revoke",
                "userinfo_endpoint": f"{base}/userinfo",
                "jwks_uri": f"{base}/certs",
                "end_session_endpoint": f"{base}/endsession",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "subject_types_supported": ["pairwise"],
                "scopes_supported": sorted(KNOWN_SCOPES),
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", *TEST_USER],
            },
            content_type=JSON,
        )

    def certs(self, request: Request) -> Response:
        return json_response(self.ctx.signer.jwks(), content_type=JSON)

    # -- authorize -----------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        args = request.args
        client_id = args.get("client_id", "")
        redirect_uri = args.get("redirect_uri", "")
        with self.ctx.store.lock:
            client = self._registry().get(client_id) if len(client_id) <= MAX_CLIENT_ID else None
        if client is None:
            # Never redirect to an unverified URI (RFC 6749 4.1.2.1).
            return oauth_error("invalid_client", f"unknown client_id {client_id!r}", 400)
        if not redirect_allowed(redirect_uri, client.get("redirect_uris", [])):
            return oauth_error(
                "invalid_request",
                "redirect_uri is not registered for this client (allowed: loopback http://127.0.0.1:<port>/..."
                " or http://localhost:<port>/..., or a registered https URI)",
                400,
            )
        state = args.get("state", "")

        def fail(error: str, description: str) -> Response:
            params = {"error": error, "error_description": description}
            if state:
                params["state"] = state
            return self._redirect(redirect_uri, params)

        if args.get("response_type") != "code":
            return fail("unsupported_response_type", "response_type must be 'code' (authorization code flow)")
        scopes = args.get("scope", "").split()
        if "openid" not in scopes:
            return fail("invalid_scope", "scope must include 'openid'")
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown:
            return fail("invalid_scope", f"unknown scope(s): {' '.join(unknown)}")
        if len(state) < MIN_STATE_NONCE:
            return fail("invalid_request", f"state is required with at least {MIN_STATE_NONCE} characters")
        nonce = args.get("nonce", "")
        if len(nonce) < MIN_STATE_NONCE:
            return fail("invalid_request", f"nonce is required with at least {MIN_STATE_NONCE} characters")
        challenge = args.get("code_challenge", "")
        method = args.get("code_challenge_method", "")
        if not challenge:
            return fail("invalid_request", "code_challenge is required (PKCE)")
        if method != "S256":
            return fail("invalid_request", "code_challenge_method must be S256 (plain is not supported)")
        if not PKCE_CHALLENGE.fullmatch(challenge):
            return fail("invalid_request", "code_challenge must be 43-128 base64url characters")
        if self.ctx.setting("consent") == "deny":
            return fail("access_denied", "the user denied the consent")

        code = secrets.token_urlsafe(32)
        with self.ctx.store.lock:
            oauth = self._oauth()
            now = self.ctx.clock.now()
            oauth["codes"] = {h: c for h, c in oauth["codes"].items() if c["expires_at"] > now - 3600}
            oauth["codes"][_hash(code)] = {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "code_challenge": challenge,
                "nonce": nonce,
                "scopes": list(dict.fromkeys(scopes)),
                "expires_at": now + CODE_SECONDS,
                "used": False,
                "grant_id": None,
            }
            self._save()
        return self._redirect(redirect_uri, {"code": code, "state": state})

    @staticmethod
    def _redirect(uri: str, params: dict[str, str]) -> Response:
        sep = "&" if urlsplit(uri).query else "?"
        return Response(status=302, headers={"Location": f"{uri}{sep}{urlencode(params)}", **NO_STORE})

    # -- client authentication -----------------------------------------------------------------------
    def _authenticate_client(self, request: Request) -> dict[str, Any] | Response:
        form = request.form
        auth = request.authorization
        basic_id = basic_secret = None
        if auth is not None and auth.type == "basic":
            basic_id = unquote_plus(auth.username or "")
            basic_secret = unquote_plus(auth.password or "")
        elif request.headers.get("Authorization"):
            return oauth_error(
                "invalid_client", "unsupported Authorization scheme at the token endpoint", 401
            )
        body_id = form.get("client_id")
        if basic_id is not None and body_id is not None and body_id != basic_id:
            return oauth_error("invalid_request", "client_id in the body differs from the Basic credentials")
        client_id = basic_id if basic_id is not None else body_id
        if not client_id:
            return oauth_error("invalid_client", "client authentication is required", 401)
        with self.ctx.store.lock:
            client = self._registry().get(client_id)
        if client is None:
            return oauth_error("invalid_client", f"unknown client_id {client_id!r}", 401)
        if client["token_endpoint_auth_method"] == "none":
            if basic_id is not None or "client_secret" in form:
                return oauth_error(
                    "invalid_client",
                    f"client {client_id!r} is registered as a public client (token endpoint auth method"
                    " 'none'): send client_id in the form body and no client secret, no HTTP Basic;"
                    " set client_auth: none",
                    401,
                )
            return client
        if basic_id is None:
            return oauth_error(
                "invalid_client",
                f"client {client_id!r} is registered as confidential (client_secret_basic): authenticate"
                " with HTTP Basic (client_id:client_secret), not in the form body; set client_auth: basic",
                401,
                headers={"WWW-Authenticate": 'Basic realm="datev-emulator"'},
            )
        if "client_secret" in form:
            return oauth_error(
                "invalid_client",
                f"client {client_id!r} uses client_secret_basic only: do not send client_secret in the body",
                401,
            )
        expected = str(client.get("client_secret", ""))
        if not hmac.compare_digest((basic_secret or "").encode(), expected.encode()):
            return oauth_error(
                "invalid_client",
                "client authentication failed (wrong client secret)",
                401,
                headers={"WWW-Authenticate": 'Basic realm="datev-emulator"'},
            )
        return client

    # -- token ---------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            return oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
        client = self._authenticate_client(request)
        if isinstance(client, Response):
            return client
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(request, client)
        if grant_type == "refresh_token":
            return self._refresh_grant(request, client)
        return oauth_error("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")

    def _code_grant(self, request: Request, client: dict[str, Any]) -> Response:
        form = request.form
        code = form.get("code", "")
        verifier = form.get("code_verifier", "")
        if not code:
            return oauth_error("invalid_request", "code is required")
        if not verifier:
            return oauth_error("invalid_request", "code_verifier is required (PKCE)")
        with self.ctx.store.lock:
            oauth = self._oauth()
            now = self.ctx.clock.now()
            record = oauth["codes"].get(_hash(code))
            if record is None or record["client_id"] != client["client_id"]:
                return oauth_error("invalid_grant", "authorization code is invalid")
            if record["used"]:
                # RFC 6749 4.1.2: a replayed code revokes what it produced.
                if record.get("grant_id"):
                    self._kill_grant(record["grant_id"])
                self._save()
                return oauth_error("invalid_grant", "authorization code was already used")
            if now >= record["expires_at"]:
                return oauth_error("invalid_grant", "authorization code expired")
            if form.get("redirect_uri", "") != record["redirect_uri"]:
                return oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
            if not PKCE_VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
                s256(verifier), record["code_challenge"]
            ):
                return oauth_error("invalid_grant", "code_verifier does not match the code_challenge (PKCE)")
            record["used"] = True
            scopes: list[str] = record["scopes"]
            lifetime = OFFLINE_SESSION_SECONDS if "offline_access" in scopes else SHORT_SESSION_SECONDS
            grant = {
                "id": uuid.uuid4().hex,
                "client_id": client["client_id"],
                "sub": self._subject(client["client_id"]),
                "scopes": scopes,
                "first_issued_at": now,
                "rt_expires_at": now + lifetime,
                "alive": True,
            }
            oauth["grants"][grant["id"]] = grant
            record["grant_id"] = grant["id"]
            body = self._issue(request, grant, nonce=record["nonce"])
            self._save()
        return json_response(body, content_type=JSON, headers=NO_STORE)

    def _refresh_grant(self, request: Request, client: dict[str, Any]) -> Response:
        token = request.form.get("refresh_token", "")
        if not token:
            return oauth_error("invalid_request", "refresh_token is required")
        with self.ctx.store.lock:
            oauth = self._oauth()
            record = oauth["refresh"].get(_hash(token))
            grant = oauth["grants"].get(record["grant_id"]) if record else None
            if record is None or grant is None or grant["client_id"] != client["client_id"]:
                return oauth_error("invalid_grant", "refresh token is invalid")
            if record["used"]:
                # DATEV: redeeming a refresh token twice invalidates the complete session.
                self._kill_grant(grant["id"])
                self._save()
                return oauth_error(
                    "invalid_grant",
                    "refresh token was already redeemed; the whole session (all tokens of this grant) is"
                    " revoked, the user must log in again",
                )
            if not grant["alive"]:
                return oauth_error("invalid_grant", "refresh token is invalid (session revoked)")
            if self.ctx.clock.now() >= grant["rt_expires_at"]:
                return oauth_error(
                    "invalid_grant", "refresh token expired; the user must log in again (consent)"
                )
            record["used"] = True
            body = self._issue(request, grant, nonce=None)
            self._save()
        return json_response(body, content_type=JSON, headers=NO_STORE)

    def _subject(self, client_id: str) -> str:
        # Pairwise subject: stable per (user, client) like DATEV's discovery announces.
        return hashlib.sha256(f"{client_id}|{TEST_USER['account_id']}".encode()).hexdigest()[:32]

    def _issue(self, request: Request, grant: dict[str, Any], nonce: str | None) -> dict[str, Any]:
        oauth = self._oauth()
        now = self.ctx.clock.now()
        skewed = self.ctx.clock.skew_warning()
        if skewed:
            LOG.warning("issuing tokens for %s: %s", grant["client_id"], skewed)
        iat = int(now)
        issuer = f"{issuer_base(request)}/openid"
        scope = " ".join(grant["scopes"])
        jti = uuid.uuid4().hex
        access = self.ctx.signer.sign(
            {
                "iss": issuer,
                "sub": grant["sub"],
                "aud": grant["client_id"],
                "client_id": grant["client_id"],
                "scope": scope,
                "iat": iat,
                "nbf": iat,
                "exp": iat + ACCESS_TOKEN_SECONDS,
                "jti": jti,
                "sid": grant["id"],
            }
        )
        oauth["access"] = {k: v for k, v in oauth["access"].items() if v["exp"] > now - 86400}
        oauth["access"][jti] = {"grant_id": grant["id"], "exp": iat + ACCESS_TOKEN_SECONDS, "revoked": False}
        # Spent refresh tokens must be remembered (reuse ends the session) only while their grant lives.
        live = {g["id"] for g in oauth["grants"].values() if g["alive"] and g["rt_expires_at"] > now}
        oauth["refresh"] = {h: r for h, r in oauth["refresh"].items() if r["grant_id"] in live}
        refresh = secrets.token_urlsafe(48)
        oauth["refresh"][_hash(refresh)] = {"grant_id": grant["id"], "issued_at": now, "used": False}
        id_claims: dict[str, Any] = {
            "iss": issuer,
            "sub": grant["sub"],
            "aud": grant["client_id"],
            "azp": grant["client_id"],
            "iat": iat,
            "exp": iat + ACCESS_TOKEN_SECONDS,
            "auth_time": int(grant["first_issued_at"]),
        }
        if nonce is not None:
            id_claims["nonce"] = nonce
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "refresh_token": refresh,
            "refresh_token_expires_in": max(0, int(grant["rt_expires_at"] - now)),
            "scope": scope,
            "id_token": self.ctx.signer.sign(id_claims),
        }

    def _kill_grant(self, grant_id: str) -> None:
        grant = self._oauth()["grants"].get(grant_id)
        if grant is not None:
            grant["alive"] = False

    # -- revoke --------------------------------------------------------------------------------------
    def revoke(self, request: Request) -> Response:
        client = self._authenticate_client(request)
        if isinstance(client, Response):
            return client
        token = request.form.get("token", "")
        hint = request.form.get("token_type_hint", "")
        if not token:
            return oauth_error("invalid_request", "token is required")
        if hint not in ("access_token", "refresh_token"):
            return oauth_error(
                "invalid_request", "token_type_hint is required: access_token or refresh_token"
            )
        with self.ctx.store.lock:
            oauth = self._oauth()
            if hint == "refresh_token":
                record = oauth["refresh"].get(_hash(token))
                grant = oauth["grants"].get(record["grant_id"]) if record else None
                if grant is not None:
                    if grant["client_id"] != client["client_id"]:
                        return oauth_error("unauthorized_client", "the token belongs to another client")
                    self._kill_grant(grant["id"])
            else:
                claims = self.ctx.signer.verify(token)
                record = oauth["access"].get(str(claims.get("jti"))) if claims else None
                if record is not None and claims is not None:
                    if claims.get("client_id") != client["client_id"]:
                        return oauth_error("unauthorized_client", "the token belongs to another client")
                    record["revoked"] = True
            self._save()
        # RFC 7009: unknown tokens are answered with 200 as well.
        return Response(b"", status=200, headers=NO_STORE)

    # -- bearer tokens -------------------------------------------------------------------------------
    def check_bearer(self, request: Request) -> TokenInfo | str:
        """The token's grant, or why it is not acceptable (for the 401 description)."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing bearer access token"
        claims = self.ctx.signer.verify(token.strip())
        if claims is None:
            return "access token is not valid (signature)"
        with self.ctx.store.lock:
            oauth = self._oauth()
            record = oauth["access"].get(str(claims.get("jti")))
            grant = oauth["grants"].get(record["grant_id"]) if record else None
            if record is None or grant is None:
                return "access token is unknown"
            if record["revoked"]:
                return "access token was revoked"
            if not grant["alive"]:
                return "access token was revoked (session ended)"
        if self.ctx.clock.now() >= float(claims.get("exp", 0)):
            return "access token expired"
        return TokenInfo(
            client_id=str(claims["client_id"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            sub=str(claims["sub"]),
            grant_id=grant["id"],
        )

    def userinfo(self, request: Request) -> Response:
        info = self.check_bearer(request)
        if isinstance(info, str):
            return oauth_error(
                "invalid_token", info, 401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        claims: dict[str, Any] = {"sub": info.sub}
        if "profile" in info.scopes:
            claims.update({k: TEST_USER[k] for k in ("name", "given_name", "family_name")})
        if "email" in info.scopes:
            claims["email"] = TEST_USER["email"]
        if "account_id" in info.scopes:
            claims["account_id"] = TEST_USER["account_id"]
        return json_response(claims, content_type=JSON)

    def end_session(self, request: Request) -> Response:
        target = request.args.get("post_logout_redirect_uri")
        if target and redirect_allowed(target, []):
            return Response(status=302, headers={"Location": target})
        return Response("signed out\n", status=200, content_type="text/plain; charset=utf-8")
