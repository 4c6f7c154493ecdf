"""`tap-datev check`: a read-only connection check, one line per check, stopping at the first failure.

Checks, in order: the stored login (no network), DATEV reachable (OIDC discovery), the clients the
login can see (and every configured `client_ids` among them), and each selected client's data
services for what `submit_kinds` sends. Nothing is written at DATEV or locally; only an access token
that has to be refreshed is stored again, as on every run.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import click
import requests

from ml_credentials import CredentialStoreError
from tap_datev import settings
from tap_datev.client import PAGE_SIZE, DatevClient
from tap_datev.command_config import config_option, load_config
from tap_datev.errors import TapDatevError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# The data service (by its scope) each kind of submission needs at a client.
SERVICE_SCOPE = {
    "extf": settings.EXTF_SCOPE,
    "dxso": settings.DXSO_SCOPE,
    "documents": settings.DOCUMENTS_SCOPE,
}


class CheckFailedError(TapDatevError):
    """A check failed; the message says what and how to fix it."""


# Errors whose message already names the thing and the fix (CheckFailedError is a TapDatevError).
FAILURES = (TapDatevError, CredentialStoreError)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str]  # returns the detail of a passed check, raises CheckFailedError


def checks(config: t.Mapping[str, t.Any], client: DatevClient) -> list[Check]:
    clients: list[dict[str, t.Any]] = []

    def stored_login() -> str:
        client.tokens.check_login()
        pair = client.tokens.store.load()
        assert pair is not None  # check_login raised otherwise
        return f"refresh token valid until {pair.refresh_expiry_text()}"

    def reachable() -> str:
        metadata = client.tokens.metadata
        return f"{settings.environment(config)} DATEV answers at {metadata.issuer}"

    def clients_visible() -> str:
        clients.extend(_selected_clients(config, client))
        return f"{len(clients)} client(s): " + ", ".join(str(c["id"]) for c in clients)

    def data_services() -> str:
        kinds = settings.submit_kinds(config)
        notes = []
        for row in clients:
            scopes = {scope for service in row.get("services") or [] for scope in service.get("scopes") or []}
            missing = [kind for kind in kinds if SERVICE_SCOPE[kind] not in scopes]
            if kinds and len(missing) == len(kinds):
                raise CheckFailedError(
                    f"client {row['id']} has none of the data services for submit_kinds "
                    f"{', '.join(kinds)}; its tax advisor books them in DATEV"
                )
            if missing:
                notes.append(f"{row['id']} without {', '.join(missing)}")
        return "present" + (f" ({'; '.join(notes)})" if notes else "")

    return [
        Check("stored login", stored_login),
        Check("DATEV reachable", reachable),
        Check("clients visible", clients_visible),
        Check("data services", data_services),
    ]


def _selected_clients(config: t.Mapping[str, t.Any], client: DatevClient) -> Iterator[dict[str, t.Any]]:
    """The clients the login sees (all pages), narrowed to `client_ids` when set; fails when none
    is visible or a configured id is not."""
    seen: list[dict[str, t.Any]] = []
    skip = 0
    while True:
        params = {"skip": skip, "top": PAGE_SIZE}
        page = client.request("GET", "clients", "/clients", params=params, retry=False).json()
        seen.extend(page)
        if len(page) < PAGE_SIZE:
            break
        skip += PAGE_SIZE
    wanted = settings.client_ids(config)
    if wanted is not None:
        missing = sorted(wanted - {str(row["id"]) for row in seen})
        if missing:
            raise CheckFailedError(
                f"client_ids {', '.join(missing)} not visible to this login "
                f"({len(seen)} client(s) are); fix client_ids or the user's rights in DATEV"
            )
        seen = [row for row in seen if str(row["id"]) in wanted]
    if not seen:
        raise CheckFailedError("this login sees no DATEV client; grant the user access in DATEV")
    return iter(seen)


def run_checks(config: t.Mapping[str, t.Any], echo: Callable[[str], None]) -> bool:
    """Run the checks in order, one line each; False at the first failure."""
    client = DatevClient(config)
    for check in checks(config, client):
        try:
            detail = check.run()
        except FAILURES as exc:
            echo(f"FAIL {check.name}: {exc}")
            return False
        except requests.RequestException as exc:
            echo(f"FAIL {check.name}: {type(exc).__name__} reaching DATEV: {exc}")
            return False
        echo(f"ok   {check.name}: {detail}")
    return True


@click.command("check")
@config_option
def check(config_args: tuple[str, ...]) -> None:
    """Check the stored login, DATEV, the visible clients and their data services (read-only)."""
    config = load_config(config_args)
    if not run_checks(config, click.echo):
        raise SystemExit(1)
