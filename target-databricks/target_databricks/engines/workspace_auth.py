"""databricks-sdk Config / WorkspaceClient from the target's settings.

Authentication is left to the SDK: OAuth M2M (client credentials, scope all-apis, renewed by the
SDK ahead of the one-hour expiry on every request), a PAT, or the SDK's default chain (DATABRICKS_*
environment variables, a ~/.databrickscfg profile). This module never caches a bare token and never
puts a secret into a message.
"""

from __future__ import annotations

import os
import re
import typing as t
from urllib.parse import urlsplit

from target_databricks.engines.base import EngineError
from target_databricks.settings import DEFAULT_CREDENTIALS_ENTRY

if t.TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

_AUTH_TYPES = {"oauth-m2m": "oauth-m2m", "oauth_m2m": "oauth-m2m", "pat": "pat"}
_WAREHOUSE_PATH = re.compile(r"/sql/\d+\.\d+/warehouses/([^/?#]+)")


def resolve_host(settings: t.Mapping[str, t.Any]) -> str | None:
    """`host`, or `server_hostname` as Databricks shows it (no scheme) made into https://<name>."""
    host = settings.get("host") or settings.get("server_hostname")
    if not host:
        return None
    host = str(host).strip().rstrip("/")
    return host if "://" in host else f"https://{host}"


def warehouse_id(settings: t.Mapping[str, t.Any]) -> str:
    """`warehouse_id`, or the id at the end of `http_path` (/sql/1.0/warehouses/<id>)."""
    if settings.get("warehouse_id"):
        return str(settings["warehouse_id"])
    http_path = str(settings.get("http_path") or "")
    match = _WAREHOUSE_PATH.search(http_path)
    if match:
        return match.group(1)
    if http_path:
        raise EngineError(
            f"http_path {http_path!r} is not a SQL warehouse path: copy it from the warehouse's "
            "Connection details (/sql/1.0/warehouses/<id>) or set warehouse_id."
        )
    raise EngineError(
        "No SQL warehouse configured: set warehouse_id, or http_path from the warehouse's "
        "Connection details (/sql/1.0/warehouses/<id>)."
    )


def _stored_secrets(settings: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """client_secret / token (and optionally client_id, host) from the shared encrypted store."""
    path = settings.get("credentials_path")
    if not path:
        return {}
    from ml_credentials.store import DEFAULT_KEY_ENV, CredentialStore, CredentialStoreError

    key_env = settings.get("credentials_key_env") or DEFAULT_KEY_ENV
    entry = settings.get("credentials_entry") or DEFAULT_CREDENTIALS_ENTRY
    try:
        value = CredentialStore.from_env(path, key_env).get(entry)
    except CredentialStoreError as exc:
        raise EngineError(str(exc)) from exc
    if value is None:
        raise EngineError(
            f"The credential store {path} has no entry {entry!r}: add it with the ml-credentials CLI "
            "(keys client_secret and/or token) or set credentials_entry."
        )
    return {k: value[k] for k in ("client_id", "client_secret", "token", "host") if value.get(k)}


def _from_environment(name: str) -> bool:
    """The SDK reads DATABRICKS_<NAME> itself for what the Config is not given."""
    return bool(os.environ.get(f"DATABRICKS_{name.upper()}"))


def _store_needed(settings: t.Mapping[str, t.Any], auth_type: str | None) -> bool:
    """Whether the credential store must be opened: only for what neither the settings (inline or
    TARGET_DATABRICKS_* variables), DATABRICKS_* variables nor a profile give."""

    def given(name: str) -> bool:
        return bool(settings.get(name)) or _from_environment(name)

    if not resolve_host(settings) and not _from_environment("host"):
        return True
    if settings.get("profile"):
        return False
    if auth_type == "pat":
        return not given("token")
    if auth_type == "oauth-m2m":
        return not (given("client_id") and given("client_secret"))
    return not (given("token") or given("client_secret"))


def config_kwargs(settings: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The keyword arguments for databricks.sdk Config (inline settings win over the store)."""
    raw_auth = str(settings.get("auth_type") or "").strip().lower()
    if raw_auth and raw_auth not in _AUTH_TYPES:
        raise EngineError(
            f"auth_type {raw_auth!r} is not supported: use 'oauth-m2m' (service principal), 'pat', "
            "or leave it empty for the SDK's default chain (DATABRICKS_* variables, config profile)."
        )
    auth_type = _AUTH_TYPES.get(raw_auth)
    stored = _stored_secrets(settings) if _store_needed(settings, auth_type) else {}
    kwargs: dict[str, t.Any] = {}
    host = resolve_host(settings) or (None if _from_environment("host") else resolve_host(stored))
    if host:
        kwargs["host"] = host
    for name in ("client_id", "client_secret", "token"):
        value = settings.get(name) or (None if _from_environment(name) else stored.get(name))
        # An explicit auth type takes only its own credentials, so a stray env token cannot win.
        if value and (auth_type is None or (auth_type == "pat") == (name == "token")):
            kwargs[name] = value
    if auth_type:
        kwargs["auth_type"] = auth_type
        needed = ("token",) if auth_type == "pat" else ("client_id", "client_secret")
        # The SDK also reads DATABRICKS_* variables and a profile for attributes left unset.
        missing = [n for n in needed if not kwargs.get(n) and not _from_environment(n)]
        if missing and not settings.get("profile"):
            raise EngineError(
                f"auth_type {auth_type} needs {' and '.join(missing)}: set it in the target's settings "
                "(or its DATABRICKS_* variable) or in the credential store entry."
            )
    for name in ("profile", "discovery_url", "retry_timeout_seconds", "http_timeout_seconds"):
        if settings.get(name):
            kwargs[name] = settings[name]
    return kwargs


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("target-databricks")
    except PackageNotFoundError:
        return "0.0.0"


def build_config(settings: t.Mapping[str, t.Any]) -> Config:
    """A databricks-sdk Config; authentication problems become an EngineError naming the fix."""
    return _config(config_kwargs(settings))


def _config(kwargs: dict[str, t.Any]) -> Config:
    from databricks.sdk.config import Config

    try:
        return Config(product="target-databricks", product_version=_version(), **kwargs)
    except ValueError as exc:
        # The SDK's message names the attributes it tried (secrets masked) and the auth types.
        raise EngineError(
            "Cannot authenticate to Databricks: set host plus either client_id/client_secret "
            "(auth_type oauth-m2m, a service principal's OAuth secret) or token (auth_type pat), "
            f"or a DATABRICKS_CONFIG_PROFILE. Details: {exc}"
        ) from exc


def make_client(settings: t.Mapping[str, t.Any]) -> WorkspaceClient:
    """The SDK's client, once the host has answered a first, short probe (see probe_host)."""
    from databricks.sdk import WorkspaceClient

    kwargs = config_kwargs(settings)
    host = kwargs.get("host") or resolve_host({"host": os.environ.get("DATABRICKS_HOST")})
    if host:
        limit = settings.get("http_timeout_seconds")
        probe_host(host, min(float(limit), FIRST_CONTACT_TIMEOUT_SECONDS) if limit else None)
    return WorkspaceClient(config=_config(kwargs))


# --- first contact -------------------------------------------------------------------------------

# The SDK retries connection errors and timeouts for retry_timeout_seconds (300 s by default), and
# its Config probes the host before any API call: an unreachable or mistyped host would take
# minutes to fail. One plain request first, with a short timeout, fails such a host at once; the
# long retry budget then serves only a workspace that has answered.
FIRST_CONTACT_TIMEOUT_SECONDS = 10.0
# Every workspace answers this without credentials (the OAuth endpoints databricks-sdk reads).
PROBE_PATH = "/oidc/.well-known/oauth-authorization-server"
# A workspace that answers these is there but busy: the SDK's retries handle them.
_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


class HostUnreachableError(EngineError):
    """`host` did not answer like a Databricks workspace at first contact."""


def probe_host(host: str, timeout: float | None = None) -> None:
    """One GET of PROBE_PATH; DNS, connect, TLS or HTTP failure raises HostUnreachableError."""
    import requests
    from urllib3.exceptions import NameResolutionError

    seconds = timeout or FIRST_CONTACT_TIMEOUT_SECONDS
    parts = urlsplit(host)
    name = parts.hostname or host
    address = f"{name}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    fix = (
        "check the host setting (the workspace URL as the browser shows it, e.g. "
        "https://adb-1234567890123456.7.azuredatabricks.net) and that this machine can reach it"
    )
    tried = f"tried GET {host}{PROBE_PATH} with a {seconds:g} s timeout"
    try:
        response = requests.get(host + PROBE_PATH, timeout=seconds)
    except requests.exceptions.SSLError as exc:
        what = f"the TLS handshake failed ({_reason(exc)})"
    except requests.exceptions.ConnectTimeout:
        what = f"no connection to {name} within {seconds:g} s"
    except requests.exceptions.ReadTimeout:
        what = f"connected, but no HTTP answer within {seconds:g} s"
    except requests.exceptions.ConnectionError as exc:
        if isinstance(_reason(exc), NameResolutionError):
            what = f"DNS cannot resolve {name}"
        else:
            what = f"connecting to {address} failed ({_os_error(_reason(exc))})"
    except requests.exceptions.RequestException as exc:
        what = f"the request failed ({exc})"
    else:
        if response.status_code in _TRANSIENT_STATUS or _is_oidc_document(response):
            return
        what = f"it answered HTTP {response.status_code}, not as a Databricks workspace does"
    raise HostUnreachableError(f"Databricks host {host}: {what}; {tried}. Fix: {fix}.")


def _reason(exc: BaseException) -> t.Any:
    """The innermost cause urllib3 reports (requests wraps it in MaxRetryError)."""
    inner = exc.args[0] if exc.args else exc
    return getattr(inner, "reason", inner)


def _os_error(reason: BaseException) -> str:
    """'Connection refused' rather than urllib3's wrapper text, when the OS said it."""
    cause: BaseException | None = reason
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return str(reason)


def _is_oidc_document(response: t.Any) -> bool:
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "token_endpoint" in body
