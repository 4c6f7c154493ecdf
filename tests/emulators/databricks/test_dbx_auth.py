"""OAuth M2M and PAT against the emulator, driven by databricks-sdk as the target drives it."""

from __future__ import annotations

import time

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import Unauthenticated

from databricks_emulator.server import RunningEmulator


def _token(url: str, scope: str = "all-apis") -> requests.Response:
    return requests.post(
        f"{url}/oidc/v1/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=("ml-connector-sp", "emulator-sp-secret"),
        timeout=5,
    )


def test_oauth_m2m_discovers_endpoints_and_gets_one_token(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    assert sp_client.config.workspace_id == "1234567890"
    assert sp_client.warehouses.get("emulator-warehouse").state is not None
    assert sp_client.metastores.current().default_catalog_name == "main"
    assert emulator.control.count("well_known") >= 1
    assert emulator.control.count("oidc_discovery") >= 1
    assert emulator.control.count("token") == 1


def test_pat_works(pat_client: WorkspaceClient) -> None:
    assert [w.id for w in pat_client.warehouses.list()] == ["emulator-warehouse"]


def test_wrong_secret_is_refused(emulator: RunningEmulator) -> None:
    w = WorkspaceClient(
        host=emulator.url, client_id="ml-connector-sp", client_secret="nope", auth_type="oauth-m2m"
    )
    with pytest.raises(ValueError, match="invalid_client"):
        list(w.warehouses.list())


def test_token_request_needs_all_apis_scope(emulator: RunningEmulator) -> None:
    refused = _token(emulator.url, scope="sql")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    granted = _token(emulator.url).json()
    assert granted["token_type"] == "Bearer"
    assert granted["expires_in"] == 3600
    assert "all-apis" in granted["scope"]


def test_missing_and_unknown_bearer_get_401(emulator: RunningEmulator) -> None:
    url = f"{emulator.url}/api/2.0/sql/warehouses"
    assert requests.get(url, timeout=5).status_code == 401
    answer = requests.get(url, headers={"Authorization": "Bearer made-up"}, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "UNAUTHENTICATED"


def test_expired_token_gets_401(emulator: RunningEmulator) -> None:
    emulator.control.set_token_lifetime(1)
    token = _token(emulator.url).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{emulator.url}/api/2.0/sql/warehouses"
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    time.sleep(1.1)
    expired = requests.get(url, headers=headers, timeout=5)
    assert expired.status_code == 401
    assert expired.json() == {"error_code": "UNAUTHENTICATED", "message": "Token is expired."}


def test_sdk_fetches_a_new_token_before_the_old_one_expires(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    # The SDK treats a token as expired 40 s before its end, so a 41 s token is renewed after ~1 s;
    # the SDK does not re-authenticate after a 401, it renews ahead of expiry.
    emulator.control.set_token_lifetime(41)
    list(sp_client.warehouses.list())
    issued = emulator.app.tokens.issued
    time.sleep(1.2)
    list(sp_client.warehouses.list())
    assert emulator.app.tokens.issued == issued + 1


def test_revoked_token_surfaces_as_unauthenticated(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    list(sp_client.warehouses.list())
    emulator.control.expire_tokens()
    with pytest.raises(Unauthenticated):
        list(sp_client.warehouses.list())
