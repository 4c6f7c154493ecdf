"""Login rules of the DATEV emulator: PKCE, state/nonce, client authentication, tokens and their lifetimes."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from datev_emu_helpers import (
    ALL_SCOPES,
    API_SCOPES,
    CLIENTS,
    CONFIDENTIAL,
    DEMO,
    REDIRECT,
    SECRET,
    Flow,
    pkce_pair,
    query_of,
)
from joserfc import jwt
from joserfc.jwk import KeySet

from datev_emulator.server import RunningEmulator

CLIENTS_LIST = f"{CLIENTS}/clients"


def test_discovery_document(flow: Flow) -> None:
    doc = requests.get(f"{flow.url}/openid/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == f"{flow.url}/openid"
    assert doc["authorization_endpoint"] == f"{flow.url}/openid/authorize"
    assert doc["token_endpoint"] == f"{flow.url}/token"
    assert doc["revocation_endpoint"] == f"{flow.url}/revoke"
    assert doc["userinfo_endpoint"] == f"{flow.url}/userinfo"
    assert doc["jwks_uri"] == f"{flow.url}/certs"
    assert doc["end_session_endpoint"] == f"{flow.url}/endsession"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "none"]


def test_authorize_redirects_with_code_and_state(flow: Flow) -> None:
    _, challenge = pkce_pair()
    response = flow.authorize(code_challenge=challenge, state="S" * 25)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(REDIRECT + "?")
    query = query_of(response)
    assert query["state"] == "S" * 25
    assert len(query["code"]) >= 32


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge_method": None}, "S256"),
        ({"code_challenge": None}, "code_challenge"),
        ({"code_challenge": "short"}, "43-128"),
        ({"state": "x" * 19}, "state"),
        ({"nonce": "x" * 19}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"scope": "datev:accounting:clients"}, "openid"),
        ({"scope": "openid datev:accounting:extf-files"}, "unknown scope"),
        ({"response_type": "token"}, "response_type"),
    ],
)
def test_authorize_rejects_by_redirect(flow: Flow, overrides: dict[str, Any], description: str) -> None:
    _, challenge = pkce_pair()
    response = flow.authorize(**{"code_challenge": challenge, "state": "s" * 24, **overrides})
    assert response.status_code == 302
    query = query_of(response)
    assert "code" not in query
    assert query["error"] in ("invalid_request", "invalid_scope", "unsupported_response_type")
    assert description in query["error_description"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "ml-connector-dem"},
        {"client_id": "ML-CONNECTOR-DEMO"},
        {"redirect_uri": "https://evil.example.com/cb"},
        {"redirect_uri": "http://192.168.1.5:8080/cb"},
    ],
)
def test_authorize_bad_client_or_redirect_is_not_redirected(flow: Flow, overrides: dict[str, str]) -> None:
    _, challenge = pkce_pair()
    response = flow.authorize(code_challenge=challenge, **overrides)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.json()["error"] in ("invalid_client", "invalid_request")


def test_loopback_redirect_on_any_port_and_registered_https(flow: Flow) -> None:
    for uri in (
        "http://localhost:1/x",
        "http://127.0.0.1:65000/cb",
        "https://connector.example.com/datev/callback",
    ):
        _, challenge = pkce_pair()
        response = flow.authorize(code_challenge=challenge, redirect_uri=uri)
        assert response.status_code == 302
        assert response.headers["Location"].startswith(uri + "?code=")


def test_consent_denied_by_control_switch(flow: Flow, emulator: RunningEmulator) -> None:
    emulator.control.set_consent("deny")
    _, challenge = pkce_pair()
    query = query_of(flow.authorize(code_challenge=challenge, state="d" * 22))
    assert query["error"] == "access_denied"
    assert query["state"] == "d" * 22


def test_wrong_pkce_verifier_is_rejected(flow: Flow) -> None:
    grant = flow.grant()
    grant.verifier = pkce_pair()[0]
    response = flow.exchange(grant)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "code_verifier" in response.json()["error_description"]


def test_code_is_single_use_and_bound_to_redirect_uri(flow: Flow) -> None:
    grant = flow.grant()
    other = flow.grant()
    other.redirect_uri = "http://127.0.0.1:1/other"
    assert flow.exchange(other).json()["error"] == "invalid_grant"
    assert flow.exchange(grant).status_code == 200
    replay = flow.exchange(grant)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_code_expires_after_60_seconds(flow: Flow, emulator: RunningEmulator) -> None:
    grant = flow.grant()
    emulator.control.advance(61)
    response = flow.exchange(grant)
    assert response.json() == {"error": "invalid_grant", "error_description": "authorization code expired"}


def test_token_response_and_id_token_verifies_against_jwks(flow: Flow) -> None:
    grant = flow.grant()
    response = flow.exchange(grant)
    body = response.json()
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"].split() == list(ALL_SCOPES)
    assert body["refresh_token_expires_in"] > 365 * 24 * 3600  # offline_access: 2 years
    keys = KeySet.import_key_set(requests.get(f"{flow.url}/certs", timeout=10).json())
    id_token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["kid"] == keys.keys[0].kid
    claims = id_token.claims
    assert claims["iss"] == f"{flow.url}/openid"
    assert claims["aud"] == DEMO
    assert claims["nonce"] == grant.nonce
    assert claims["exp"] > claims["iat"]
    assert claims["sub"]
    access = jwt.decode(body["access_token"], keys, algorithms=["RS256"])
    assert access.claims["client_id"] == DEMO
    userinfo = requests.get(
        f"{flow.url}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
    ).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["family_name"] == "Mustermann"


def test_public_client_auth_none_accepted_and_secret_rejected(flow: Flow) -> None:
    grant = flow.grant(DEMO)
    data = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": REDIRECT,
        "code_verifier": grant.verifier,
    }
    basic = requests.post(f"{flow.url}/token", data=data, auth=(DEMO, "anything"), timeout=10)
    assert basic.status_code == 401
    assert basic.json()["error"] == "invalid_client"
    assert "public" in basic.json()["error_description"]
    assert "client_auth: none" in basic.json()["error_description"]
    in_body = requests.post(
        f"{flow.url}/token", data={**data, "client_id": DEMO, "client_secret": "x"}, timeout=10
    )
    assert in_body.status_code == 401
    assert "client_auth: none" in in_body.json()["error_description"]
    assert requests.post(f"{flow.url}/token", data={**data, "client_id": DEMO}, timeout=10).status_code == 200


def test_confidential_client_needs_basic(flow: Flow) -> None:
    grant = flow.grant(CONFIDENTIAL)
    data = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": REDIRECT,
        "code_verifier": grant.verifier,
    }
    body_only = requests.post(f"{flow.url}/token", data={**data, "client_id": CONFIDENTIAL}, timeout=10)
    assert body_only.status_code == 401
    assert body_only.json()["error"] == "invalid_client"
    assert "confidential" in body_only.json()["error_description"]
    assert "client_auth: basic" in body_only.json()["error_description"]
    wrong = requests.post(f"{flow.url}/token", data=data, auth=(CONFIDENTIAL, "wrong"), timeout=10)
    assert wrong.status_code == 401
    assert "wrong" not in wrong.json()["error_description"].replace("wrong client secret", "")
    ok = requests.post(f"{flow.url}/token", data=data, auth=(CONFIDENTIAL, SECRET), timeout=10)
    assert ok.status_code == 200
    assert ok.json()["access_token"]


def test_refresh_rotates_and_reuse_kills_the_session(flow: Flow) -> None:
    first = flow.login()
    second = flow.refresh(first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = flow.refresh(second["refresh_token"]).json()
    newest = third["access_token"]
    assert flow.api("GET", CLIENTS_LIST, newest).status_code == 200
    reuse = flow.refresh(first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "already redeemed" in reuse.json()["error_description"]
    # The whole grant is dead: the newest access token and refresh token no longer work.
    assert flow.api("GET", CLIENTS_LIST, newest).status_code == 401
    assert flow.refresh(third["refresh_token"]).json()["error"] == "invalid_grant"


def test_session_ends_11_hours_after_first_issue_without_offline_access(
    flow: Flow, emulator: RunningEmulator
) -> None:
    tokens = flow.login(scopes=("openid", *API_SCOPES))
    assert 11 * 3600 - 5 <= tokens["refresh_token_expires_in"] <= 11 * 3600
    emulator.control.advance(10 * 3600)
    later = flow.refresh(tokens["refresh_token"]).json()
    # Refreshing does not extend the session: one hour is left.
    assert 3600 - 5 <= later["refresh_token_expires_in"] <= 3600
    emulator.control.advance(3600)
    expired = flow.refresh(later["refresh_token"])
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_grant"
    assert "refresh token expired" in expired.json()["error_description"]


def test_offline_access_session_outlives_11_hours(flow: Flow, emulator: RunningEmulator) -> None:
    tokens = flow.login()
    emulator.control.advance(12 * 3600)
    assert flow.refresh(tokens["refresh_token"]).status_code == 200


def test_access_token_expires_after_900_seconds(
    flow: Flow, emulator: RunningEmulator, tokens: dict[str, Any]
) -> None:
    emulator.control.advance(899)
    assert flow.api("GET", CLIENTS_LIST, tokens["access_token"]).status_code == 200
    emulator.control.advance(1)
    expired = flow.api("GET", CLIENTS_LIST, tokens["access_token"])
    assert expired.status_code == 401
    assert expired.json()["detail"] == "access token expired"


def test_revoke_requires_token_type_hint(flow: Flow, tokens: dict[str, Any]) -> None:
    response = requests.post(
        f"{flow.url}/revoke", data={"token": tokens["access_token"], "client_id": DEMO}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "token_type_hint" in response.json()["error_description"]
    assert flow.api("GET", CLIENTS_LIST, tokens["access_token"]).status_code == 200


def test_revoke_access_token_and_refresh_token(flow: Flow, tokens: dict[str, Any]) -> None:
    data = {"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": DEMO}
    assert requests.post(f"{flow.url}/revoke", data=data, timeout=10).status_code == 200
    assert flow.api("GET", CLIENTS_LIST, tokens["access_token"]).status_code == 401
    fresh = flow.refresh(tokens["refresh_token"]).json()
    assert flow.api("GET", CLIENTS_LIST, fresh["access_token"]).status_code == 200
    data = {"token": fresh["refresh_token"], "token_type_hint": "refresh_token", "client_id": DEMO}
    assert requests.post(f"{flow.url}/revoke", data=data, timeout=10).status_code == 200
    assert flow.api("GET", CLIENTS_LIST, fresh["access_token"]).status_code == 401
    assert flow.refresh(fresh["refresh_token"]).json()["error"] == "invalid_grant"


def test_api_calls_need_matching_client_id_header(flow: Flow, tokens: dict[str, Any]) -> None:
    missing = flow.api("GET", CLIENTS_LIST, tokens["access_token"], client_id=None)
    assert missing.status_code == 401
    assert "X-DATEV-Client-Id" in missing.json()["detail"]
    other = flow.api("GET", CLIENTS_LIST, tokens["access_token"], client_id=CONFIDENTIAL)
    assert other.status_code == 401
    no_token = requests.get(f"{flow.url}{CLIENTS_LIST}", headers={"X-DATEV-Client-Id": DEMO}, timeout=10)
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer")


def test_registered_client_through_control_api(flow: Flow) -> None:
    response = requests.post(
        f"{flow.url}/_emulator/oauth-clients",
        json={
            "client_id": "tap-ci",
            "token_endpoint_auth_method": "client_secret_basic",
            "client_secret": "s3",
        },
        timeout=10,
    )
    assert response.status_code == 201
    assert "client_secret" not in response.json()
    grant = flow.grant("tap-ci")
    data = {"grant_type": "authorization_code", "code": grant.code, "redirect_uri": REDIRECT}
    ok = requests.post(
        f"{flow.url}/token", data={**data, "code_verifier": grant.verifier}, auth=("tap-ci", "s3")
    )
    assert ok.status_code == 200
