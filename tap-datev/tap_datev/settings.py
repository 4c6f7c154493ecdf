"""tap-datev settings: the JSON schema Meltano and the SDK validate, and what follows from them.

Every function here is pure (no network, no token store), so discovery stays offline.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_datev.errors import DatevConfigError

ENVIRONMENTS = ("production", "datev-sandbox", "local")
APIS = ("clients", "documents", "extf", "dxso", "ade")
SUBMIT_KINDS = ("extf", "dxso", "documents")
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEFAULT_STATE_DIR = ".state/tap-datev"
DEFAULT_KEY_ENV = "ML_CONNECTOR_CREDENTIALS_KEY"
APP_CREDENTIAL = "datev-app"  # store entry that may hold `client_secret`

# Product segment and version of each API (https://<product>.api.datev.de/platform/<version>).
_API_PRODUCTS: dict[str, tuple[str, str]] = {
    "clients": ("accounting-clients", "v2"),
    "documents": ("accounting-documents", "v2"),
    "extf": ("accounting-extf-files", "v3"),
    "dxso": ("accounting-dxso-jobs", "v2"),
    "ade": ("accounting-data-exchange", "v1"),
}

_DISCOVERY = {
    "production": "https://login.datev.de/openid/.well-known/openid-configuration",
    "datev-sandbox": "https://login.datev.de/openidsandbox/.well-known/openid-configuration",
}

# OIDC scopes every login asks for: without offline_access the refresh token dies ~11 h after
# the first issue, which would force a browser login every day.
BASE_SCOPES = ("openid", "offline_access")
# DATEV's API scopes. A client's data services list the scopes they belong to, so the same
# strings also say whether a client has booked a service.
CLIENTS_SCOPE = "datev:accounting:clients"  # accounting-clients: GET /clients
CLIENTS_READ_SCOPE = "accounting:clients:read"  # documents API: GET /clients/{id} (accounting basics)
DOCUMENTS_SCOPE = "accounting:documents"
EXTF_SCOPE = "datev:accounting:extf-files-import"
DXSO_SCOPE = "accounting:dxso-jobs"
# Accounting Data Exchange (the booked ledger): needs DATEV's approval of the app for the data
# service "Datenservice Export Rechnungswesen", so it is asked for only with `ade_enabled`.
ADE_SCOPE = "datev:accounting:exchange"
# Asked for at every login, whatever submit_kinds says.
ALWAYS_SCOPES = (CLIENTS_SCOPE, CLIENTS_READ_SCOPE)
SUBMIT_SCOPES: dict[str, tuple[str, ...]] = {
    "extf": (EXTF_SCOPE,),
    "dxso": (CLIENTS_READ_SCOPE, DXSO_SCOPE),
    "documents": (CLIENTS_READ_SCOPE, DOCUMENTS_SCOPE),
}

_GL_ACCOUNT = th.ObjectType(
    th.Property("client_id", th.StringType, required=True, description="DATEV client id, e.g. 29098-55003"),
    th.Property("account_number", th.StringType, required=True, description="General ledger account"),
    th.Property("label", th.StringType, required=True, description="Account label (Kontobeschriftung)"),
    th.Property("language", th.StringType, description="Language of the label, e.g. de-DE"),
)

CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        "environment",
        th.StringType,
        default="production",
        allowed_values=list(ENVIRONMENTS),
        description="Which DATEV to talk to: `production`, DATEV's `datev-sandbox`, or `local` "
        "(an emulator at `base_url`).",
    ),
    th.Property(
        "base_url",
        th.StringType,
        description="Root URL of the DATEV emulator; required when environment is `local`.",
    ),
    th.Property(
        "client_id",
        th.StringType,
        required=True,
        description="The OAuth client id of the app registered at DATEV (developer portal).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="The app's client secret, only used with client_auth `basic`. May instead live "
        f"in the credential store entry `{APP_CREDENTIAL}` (field `client_secret`).",
    ),
    th.Property(
        "client_auth",
        th.StringType,
        default="none",
        allowed_values=["none", "basic"],
        description="Client authentication at DATEV's token and revoke endpoints: `none` (public "
        "client, client_id in the body, the secret is never sent) or `basic` (HTTP Basic).",
    ),
    th.Property(
        "redirect_uri",
        th.StringType,
        default=DEFAULT_REDIRECT_URI,
        description="Redirect URI registered for the app. An http loopback URI makes `tap-datev "
        "login` listen on it; otherwise (production needs https) login prints the authorization "
        "URL and asks for the redirected URL to be pasted.",
    ),
    th.Property(
        "state_dir",
        th.StringType,
        default=DEFAULT_STATE_DIR,
        description="Directory for the credential store, the submission ledger and kept files. "
        "One writer at a time.",
    ),
    th.Property(
        "credentials_path",
        th.StringType,
        description="Directory of the encrypted credential store (default `<state_dir>/credentials`).",
    ),
    th.Property(
        "credentials_key_env",
        th.StringType,
        default=DEFAULT_KEY_ENV,
        description="Name of the environment variable holding the credential store key.",
    ),
    th.Property(
        "client_ids",
        th.ArrayType(th.StringType),
        description="Only these DATEV clients (ids like `29098-55003`); default all the user can see.",
    ),
    th.Property(
        "submit_kinds",
        th.ArrayType(th.StringType(allowed_values=list(SUBMIT_KINDS))),
        default=list(SUBMIT_KINDS),
        description="What `tap-datev submit` may send (`extf`, `dxso`, `documents`); decides the "
        "scopes login asks for.",
    ),
    th.Property(
        "gl_accounts",
        th.ArrayType(_GL_ACCOUNT),
        description="General ledger account labels given in the config.",
    ),
    th.Property(
        "gl_account_files",
        th.ArrayType(th.StringType),
        description="Paths of EXTF category 20 files (Kontenbeschriftungen).",
    ),
    th.Property(
        "business_partner_files",
        th.ArrayType(th.StringType),
        description="Paths of EXTF category 16 files (Debitoren/Kreditoren).",
    ),
    th.Property(
        "ade_enabled",
        th.BooleanType,
        default=False,
        description="Read the booked ledger through DATEV's Accounting Data Exchange API (streams "
        "fiscal_years, accounting_sequences, general_ledger_accounts, sums_and_balances, "
        "terms_of_payment, account_postings). Needs DATEV's approval of the app for the data service "
        '"Datenservice Export Rechnungswesen"; login then asks for scope datev:accounting:exchange '
        "(log in again after turning it on).",
    ),
    th.Property(
        "ade_postings_interval_hours",
        th.NumberType,
        default=24,
        description="A fiscal year that is not closed is exported (account_postings, one whole-year "
        "job per client and fiscal year) at most once in this many hours, however often the tap runs.",
    ),
    th.Property(
        "start_date",
        th.DateType,
        description="Earliest date (YYYY-MM-DD) to sync for incremental streams.",
    ),
    th.Property(
        "backoff_base_seconds",
        th.NumberType,
        default=5,
        description="First retry delay: the first wait lies between half of it and all of it "
        "(exponential backoff with equal jitter; a Retry-After is waited plus jitter). Applies to "
        "429, 503 and connection errors of a DATEV that has answered before; the first contact of "
        "a run is not retried.",
    ),
    th.Property(
        "backoff_max_seconds",
        th.NumberType,
        default=300,
        description="Longest single retry delay.",
    ),
    th.Property(
        "backoff_budget_seconds",
        th.NumberType,
        default=900,
        description="Total time one request may spend waiting for retries before it fails.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType,
        default=60,
        description="Timeout of one HTTP request.",
    ),
).to_dict()
# `local` talks to an emulator, so its URL must be given.
CONFIG_SCHEMA["allOf"] = [
    {
        "if": {"properties": {"environment": {"const": "local"}}, "required": ["environment"]},
        "then": {"required": ["base_url"]},
    }
]


def problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """What the JSON schema cannot say (singer-sdk validates no `format`), one message per setting."""
    found = []
    start = config.get("start_date")
    if start is not None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(start)):
                raise ValueError(start)
            dt.date.fromisoformat(str(start))
        except ValueError:
            found.append(f"start_date must be a date as YYYY-MM-DD (e.g. 2025-01-01), not {start!r}")
    return found


def _get(config: t.Mapping[str, t.Any], key: str) -> t.Any:
    value = config.get(key)
    if value is None:
        return CONFIG_SCHEMA["properties"][key].get("default")
    return value


def environment(config: t.Mapping[str, t.Any]) -> str:
    env = str(_get(config, "environment"))
    if env not in ENVIRONMENTS:
        raise DatevConfigError(f"environment must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    return env


def client_id(config: t.Mapping[str, t.Any]) -> str:
    value = config.get("client_id")
    if not value:
        raise DatevConfigError("client_id is required (the OAuth client id of the DATEV app)")
    return str(value)


def client_auth(config: t.Mapping[str, t.Any]) -> str:
    mode = str(_get(config, "client_auth"))
    if mode not in {"none", "basic"}:
        raise DatevConfigError(f"client_auth must be `none` or `basic`, not {mode!r}")
    return mode


def _local_base(config: t.Mapping[str, t.Any]) -> str:
    base = config.get("base_url")
    if not base:
        raise DatevConfigError("base_url is required when environment is `local` (the emulator URL)")
    return str(base).rstrip("/")


def discovery_url(config: t.Mapping[str, t.Any]) -> str:
    env = environment(config)
    if env == "local":
        return f"{_local_base(config)}/openid/.well-known/openid-configuration"
    return _DISCOVERY[env]


def api_base_url(config: t.Mapping[str, t.Any], api: str) -> str:
    """Base URL of one DATEV API: `clients`, `documents`, `extf`, `dxso` or `ade`."""
    if api not in _API_PRODUCTS:
        raise ValueError(f"unknown DATEV API {api!r}; expected one of {', '.join(APIS)}")
    product, version = _API_PRODUCTS[api]
    env = environment(config)
    if env == "local":
        return f"{_local_base(config)}/{product}/platform/{version}"
    platform = "platform-sandbox" if env == "datev-sandbox" else "platform"
    return f"https://{product}.api.datev.de/{platform}/{version}"


def state_dir(config: t.Mapping[str, t.Any]) -> Path:
    return Path(str(_get(config, "state_dir"))).expanduser()


def credentials_path(config: t.Mapping[str, t.Any]) -> Path:
    explicit = config.get("credentials_path")
    return Path(str(explicit)).expanduser() if explicit else state_dir(config) / "credentials"


def credentials_key_env(config: t.Mapping[str, t.Any]) -> str:
    return str(_get(config, "credentials_key_env"))


def redirect_uri(config: t.Mapping[str, t.Any]) -> str:
    return str(_get(config, "redirect_uri"))


def uses_loopback(config: t.Mapping[str, t.Any]) -> bool:
    """True when login can catch the redirect itself: an http URI on a loopback host.

    DATEV's production refuses such URIs for confidential clients, so there the user pastes the
    redirected URL instead.
    """
    parts = urlsplit(redirect_uri(config))
    return (
        environment(config) != "production"
        and parts.scheme == "http"
        and parts.hostname in {"127.0.0.1", "localhost", "::1"}
    )


def submit_kinds(config: t.Mapping[str, t.Any]) -> tuple[str, ...]:
    kinds = tuple(_get(config, "submit_kinds") or ())
    unknown = [k for k in kinds if k not in SUBMIT_KINDS]
    if unknown:
        raise DatevConfigError(f"unknown submit_kinds {unknown}; allowed: {', '.join(SUBMIT_KINDS)}")
    return kinds


def client_ids(config: t.Mapping[str, t.Any]) -> frozenset[str] | None:
    ids = config.get("client_ids")
    return frozenset(str(i) for i in ids) if ids else None


def token_entry_name(config: t.Mapping[str, t.Any]) -> str:
    """Credential store entry of the token pair: one per environment and OAuth client."""
    return f"datev-tokens-{environment(config)}-{client_id(config)}"


def number(config: t.Mapping[str, t.Any], key: str) -> float:
    return float(_get(config, key))


def ade_enabled(config: t.Mapping[str, t.Any]) -> bool:
    return bool(_get(config, "ade_enabled"))
