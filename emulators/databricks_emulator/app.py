"""The WSGI application: routes, bearer check, fault injection and request counting."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID, WORKSPACE_ID, OAuthError, TokenStore
from databricks_emulator.control import Control
from databricks_emulator.errors import ApiError, SqlError
from databricks_emulator.files_api import FilesApi
from databricks_emulator.jobs import Jobs
from databricks_emulator.sql.engine import SqlEngine
from databricks_emulator.statements import StatementService
from databricks_emulator.unity_catalog import UnityCatalog
from databricks_emulator.warehouses import Warehouses
from databricks_emulator.workspace import Workspace

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_PUBLIC = {"well_known", "oidc_discovery", "token", "control", "control_state"}
_UC = "/api/2.1/unity-catalog"


def _rules() -> list[Rule]:
    r = Rule
    return [
        r("/.well-known/databricks-config", endpoint="well_known", methods=["GET"]),
        r("/oidc/.well-known/oauth-authorization-server", endpoint="oidc_discovery", methods=["GET"]),
        r("/oidc/.well-known/openid-configuration", endpoint="oidc_discovery", methods=["GET"]),
        r("/oidc/v1/token", endpoint="token", methods=["POST"]),
        r("/_emulator/control", endpoint="control", methods=["POST"]),
        r("/_emulator/state", endpoint="control_state", methods=["GET"]),
        r("/api/2.0/preview/scim/v2/Me", endpoint="scim.me", methods=["GET"]),
        r("/api/2.0/sql/statements", endpoint="statements.execute", methods=["POST"]),
        r("/api/2.0/sql/statements/<sid>", endpoint="statements.get", methods=["GET"]),
        r("/api/2.0/sql/statements/<sid>/cancel", endpoint="statements.cancel", methods=["POST"]),
        r(
            "/api/2.0/sql/statements/<sid>/result/chunks/<int:index>",
            endpoint="statements.chunk",
            methods=["GET"],
        ),
        r("/api/2.0/sql/warehouses", endpoint="warehouses.list", methods=["GET"]),
        r("/api/2.0/sql/warehouses/<wid>", endpoint="warehouses.get", methods=["GET"]),
        r("/api/2.0/sql/warehouses/<wid>/start", endpoint="warehouses.start", methods=["POST"]),
        r("/api/2.0/sql/warehouses/<wid>/stop", endpoint="warehouses.stop", methods=["POST"]),
        r(f"{_UC}/metastore_summary", endpoint="uc.metastore_summary", methods=["GET"]),
        r(f"{_UC}/current-metastore-assignment", endpoint="uc.current_assignment", methods=["GET"]),
        r(f"{_UC}/catalogs", endpoint="uc.catalogs", methods=["GET", "POST"]),
        r(f"{_UC}/catalogs/<name>", endpoint="uc.catalog", methods=["GET"]),
        r(f"{_UC}/schemas", endpoint="uc.schemas", methods=["GET", "POST"]),
        r(f"{_UC}/schemas/<name>", endpoint="uc.schema", methods=["GET"]),
        r(f"{_UC}/tables", endpoint="uc.tables", methods=["GET"]),
        r(f"{_UC}/tables/<name>", endpoint="uc.table", methods=["GET"]),
        r(f"{_UC}/tables/<name>/exists", endpoint="uc.table_exists", methods=["GET"]),
        r(f"{_UC}/volumes", endpoint="uc.volumes", methods=["GET", "POST"]),
        r(f"{_UC}/volumes/<name>", endpoint="uc.volume", methods=["GET"]),
        r("/api/2.0/fs/files/<path:path>", endpoint="files.put", methods=["PUT"]),
        r("/api/2.0/fs/files/<path:path>", endpoint="files.head", methods=["HEAD"]),
        r("/api/2.0/fs/files/<path:path>", endpoint="files.get", methods=["GET"]),
        r("/api/2.0/fs/files/<path:path>", endpoint="files.delete", methods=["DELETE"]),
        r("/api/2.0/fs/directories/<path:path>", endpoint="directories.put", methods=["PUT"]),
        r("/api/2.0/fs/directories/<path:path>", endpoint="directories.head", methods=["HEAD"]),
        r("/api/2.0/fs/directories/<path:path>", endpoint="directories.get", methods=["GET"]),
        r("/api/2.0/fs/directories/<path:path>", endpoint="directories.delete", methods=["DELETE"]),
        r("/api/2.0/workspace/import", endpoint="workspace.import", methods=["POST"]),
        r("/api/2.0/workspace/get-status", endpoint="workspace.get_status", methods=["GET"]),
        r("/api/2.0/workspace/export", endpoint="workspace.export", methods=["GET"]),
        r("/api/2.0/workspace/list", endpoint="workspace.list", methods=["GET"]),
        r("/api/2.0/workspace/mkdirs", endpoint="workspace.mkdirs", methods=["POST"]),
        r("/api/2.0/workspace/delete", endpoint="workspace.delete", methods=["POST"]),
        r("/api/<any('2.1','2.2'):v>/jobs/runs/submit", endpoint="jobs.submit", methods=["POST"]),
        r("/api/<any('2.1','2.2'):v>/jobs/runs/get", endpoint="jobs.get", methods=["GET"]),
        r("/api/<any('2.1','2.2'):v>/jobs/runs/cancel", endpoint="jobs.cancel", methods=["POST"]),
        r("/api/<any('2.1','2.2'):v>/jobs/runs/get-output", endpoint="jobs.get_output", methods=["GET"]),
        r("/api/<any('2.1','2.2'):v>/jobs/runs/delete", endpoint="jobs.delete", methods=["POST"]),
    ]


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _body(request: Request) -> dict[str, Any]:
    data = request.get_data(cache=True)
    if not data:
        return {}
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise ApiError(400, "MALFORMED_REQUEST", "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
    return body


class EmulatorApp:
    def __init__(self, data_dir: Path, control: Control) -> None:
        self.control = control
        self.engine = SqlEngine(data_dir)
        self.engine.denied_privileges = control.denied_privileges  # one set: SQL and REST agree
        self.tokens = TokenStore(control)
        self.warehouses = Warehouses(control)
        self.statements = StatementService(self.engine, self.warehouses, control)
        self.uc = UnityCatalog(self.engine, control)
        self.files = FilesApi(self.engine)
        self.workspace = Workspace()
        self.jobs = Jobs(self.engine, self.warehouses, self.workspace)
        self.url_map = Map(_rules(), strict_slashes=False, merge_slashes=False)
        control._hooks.update(
            expire_tokens=self.tokens.expire_all,
            set_warehouse_state=self.warehouses.set_state,
            set_sql_scripting=lambda enabled: setattr(self.engine, "sql_scripting", bool(enabled)),
            executed=lambda: self.engine.executed,
            executed_log=lambda: list(self.engine.executed_log),
            reset_executed=self.engine.reset_executed,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        endpoint = "unknown"
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response = self._dispatch(request, str(endpoint), dict(args))
        except (NotFound, MethodNotAllowed) as exc:
            response = _json(
                {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for {request.path}"},
                exc.code or 404,
            )
        except HTTPException as exc:
            response = _json({"error_code": "BAD_REQUEST", "message": exc.description}, exc.code or 400)
        self.control.record(request.method, request.path, str(endpoint), response.status_code)
        if (
            endpoint not in _PUBLIC
            and response.status_code < 400
            and self.control.take_fault(request.method, request.path, "drop")
        ):
            self._drop_connection(environ)
        return response(environ, start_response)

    @staticmethod
    def _drop_connection(environ: WSGIEnvironment) -> None:
        """The work is done; close the socket so the client sees no answer (a lost response)."""
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _dispatch(self, request: Request, endpoint: str, args: dict[str, Any]) -> Response:
        fault = None
        if endpoint not in _PUBLIC or endpoint == "token":
            fault = self.control.take_fault(request.method, request.path, "status")
        if fault is not None:
            code = "TOO_MANY_REQUESTS" if fault.status == 429 else "TEMPORARILY_UNAVAILABLE"
            response = _json(
                {"error_code": code, "message": "Injected by the emulator; retry later."}, fault.status
            )
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        try:
            if endpoint not in _PUBLIC:
                self.tokens.check(request.headers.get("Authorization"))
            handler: Callable[..., Response | dict[str, Any] | None] = getattr(
                self, "on_" + endpoint.replace(".", "_")
            )
            result = handler(request, **args)
        except ApiError as exc:
            return _json(exc.body(), exc.status)
        except SqlError as exc:  # a SQL failure outside the Statement API (e.g. UC create through the engine)
            return _json({"error_code": exc.error_code, "message": exc.message}, 400)
        except OAuthError as exc:
            return _json({"error": exc.error, "error_description": exc.description}, exc.status)
        if isinstance(result, Response):
            return result
        return _json(result if result is not None else {})

    # ---- auth ----

    def on_well_known(self, request: Request) -> dict[str, Any]:
        base = request.host_url.rstrip("/")
        return {"oidc_endpoint": f"{base}/oidc", "workspace_id": WORKSPACE_ID, "cloud": "AWS"}

    def on_oidc_discovery(self, request: Request) -> dict[str, Any]:
        base = request.host_url.rstrip("/") + "/oidc"
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/v1/authorize",
            "token_endpoint": f"{base}/v1/token",
            "jwks_uri": f"{base}/jwks.json",
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["all-apis", "offline_access", "sql"],
        }

    def on_token(self, request: Request) -> dict[str, Any]:
        grant = self.tokens.issue(request.headers.get("Authorization"), dict(request.form))
        return {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": grant.expires_in,
            "scope": grant.scope,
        }

    def on_scim_me(self, request: Request) -> dict[str, Any]:
        return {
            "id": "4242",
            "userName": SERVICE_PRINCIPAL_ID,
            "displayName": SERVICE_PRINCIPAL_ID,
            "active": True,
        }

    # ---- emulator control ----

    def on_control(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        op = body.pop("op", None)
        if op not in Control.HTTP_OPERATIONS:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Unknown control operation {op!r}.")
        try:
            getattr(self.control, op)(**body)
        except (TypeError, ValueError, ApiError) as exc:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{op}: {exc}") from exc
        return self.control.snapshot()

    def on_control_state(self, request: Request) -> dict[str, Any]:
        return self.control.snapshot()

    # ---- statements and warehouses ----

    def on_statements_execute(self, request: Request) -> dict[str, Any]:
        return self.statements.submit(_body(request))

    def on_statements_get(self, request: Request, sid: str) -> dict[str, Any]:
        return self.statements.poll(sid)

    def on_statements_cancel(self, request: Request, sid: str) -> None:
        self.statements.cancel(sid)

    def on_statements_chunk(self, request: Request, sid: str, index: int) -> dict[str, Any]:
        return self.statements.chunk(sid, index)

    def on_warehouses_list(self, request: Request) -> dict[str, Any]:
        return {"warehouses": [w.as_json(request.host) for w in self.warehouses.all()]}

    def on_warehouses_get(self, request: Request, wid: str) -> dict[str, Any]:
        return self.warehouses.observe(wid).as_json(request.host)

    def on_warehouses_start(self, request: Request, wid: str) -> None:
        self.warehouses.start(wid)

    def on_warehouses_stop(self, request: Request, wid: str) -> None:
        self.warehouses.stop(wid)

    # ---- Unity Catalog ----

    def on_uc_metastore_summary(self, request: Request) -> dict[str, Any]:
        return self.uc.metastore_summary()

    def on_uc_current_assignment(self, request: Request) -> dict[str, Any]:
        return self.uc.current_assignment()

    def on_uc_catalogs(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            return self.uc.create_catalog(_body(request))
        return self.uc.list_catalogs()

    def on_uc_catalog(self, request: Request, name: str) -> dict[str, Any]:
        return self.uc.get_catalog(name)

    def on_uc_schemas(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            return self.uc.create_schema(_body(request))
        return self.uc.list_schemas(request.args.get("catalog_name", ""))

    def on_uc_schema(self, request: Request, name: str) -> dict[str, Any]:
        return self.uc.get_schema(name)

    def on_uc_tables(self, request: Request) -> dict[str, Any]:
        return self.uc.list_tables(request.args.get("catalog_name", ""), request.args.get("schema_name", ""))

    def on_uc_table(self, request: Request, name: str) -> dict[str, Any]:
        return self.uc.get_table(name)

    def on_uc_table_exists(self, request: Request, name: str) -> dict[str, Any]:
        return self.uc.table_exists(name)

    def on_uc_volumes(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            return self.uc.create_volume(_body(request))
        return self.uc.list_volumes(request.args.get("catalog_name", ""), request.args.get("schema_name", ""))

    def on_uc_volume(self, request: Request, name: str) -> dict[str, Any]:
        return self.uc.get_volume(name)

    # ---- Files API ----

    def on_files_put(self, request: Request, path: str) -> Response:
        overwrite = request.args.get("overwrite", "false").lower() == "true"
        self.files.upload(path, request.stream, overwrite)
        return Response(status=204)

    def on_files_get(self, request: Request, path: str) -> Response:
        local = self.files.file_path(path)
        handle = local.open("rb")
        response = Response(wrap_file(request.environ, handle), direct_passthrough=True)
        response.headers.update(FilesApi.file_headers(local))
        return response

    def on_files_head(self, request: Request, path: str) -> Response:
        local = self.files.file_path(path)
        response = Response(status=200)
        response.headers.update(FilesApi.file_headers(local))
        return response

    def on_files_delete(self, request: Request, path: str) -> Response:
        self.files.delete_file(path)
        return Response(status=204)

    def on_directories_put(self, request: Request, path: str) -> Response:
        self.files.mkdirs(path)
        return Response(status=204)

    def on_directories_get(self, request: Request, path: str) -> dict[str, Any]:
        return self.files.list_directory(path)

    def on_directories_head(self, request: Request, path: str) -> Response:
        self.files.directory_exists(path)
        return Response(status=200)

    def on_directories_delete(self, request: Request, path: str) -> Response:
        self.files.delete_directory(path)
        return Response(status=204)

    # ---- workspace and jobs ----

    def on_workspace_import(self, request: Request) -> None:
        self.workspace.import_(_body(request))

    def on_workspace_get_status(self, request: Request) -> dict[str, Any]:
        return self.workspace.get(request.args.get("path")).status()

    def on_workspace_export(self, request: Request) -> dict[str, Any]:
        return self.workspace.export(request.args.get("path"))

    def on_workspace_list(self, request: Request) -> dict[str, Any]:
        return self.workspace.list(request.args.get("path"))

    def on_workspace_mkdirs(self, request: Request) -> None:
        self.workspace.mkdirs(_body(request).get("path"))

    def on_workspace_delete(self, request: Request) -> None:
        self.workspace.delete(_body(request))

    def on_jobs_submit(self, request: Request, v: str) -> dict[str, Any]:
        return self.jobs.submit(_body(request))

    def on_jobs_get(self, request: Request, v: str) -> dict[str, Any]:
        return self.jobs.get(request.args.get("run_id"), request.host_url.rstrip("/"))

    def on_jobs_get_output(self, request: Request, v: str) -> dict[str, Any]:
        return self.jobs.get_output(request.args.get("run_id"), request.host_url.rstrip("/"))

    def on_jobs_cancel(self, request: Request, v: str) -> None:
        self.jobs.cancel(_body(request))

    def on_jobs_delete(self, request: Request, v: str) -> None:
        self.jobs.delete(_body(request))
