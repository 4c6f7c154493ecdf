"""accounting-dxso-jobs v2 (Rechnungsdatenservice 1.0): create a job, attach files, finalize, poll, cancel."""

from __future__ import annotations

import json
import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from typing import Any

from werkzeug.wrappers import Request, Response

from datev_emulator.context import Context
from datev_emulator.documents_api import ClientBasicsApi
from datev_emulator.guard import authorize_call, not_found
from datev_emulator.oauth import OAuthServer
from datev_emulator.responses import JSON, JSON_UTF8, dco_error, empty_response, json_response
from datev_emulator.uploads import MEDIA_TYPES, Rejected, check_upload

SCOPE = "accounting:dxso-jobs"
IMPORT_TYPES = {
    "accountsPayableLedgerImport": ("ledger_folder_names", ["Eingangsrechnungen"]),
    "accountsReceivableLedgerImport": ("ledger_folder_names", ["Ausgangsrechnungen"]),
    "cashLedgerImport": ("cash_ledger_names", ["Kasse"]),
}
LEDGER_ROOTS = ("LedgerImport", "Invoice", "invoice")
OPEN, PROCESSING, SUCCEEDED, NOT_PROCESSED, PARTIAL, CANCELLED = 0, 1, 2, 3, 4, 5
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def evaluate(files: dict[str, bytes]) -> tuple[int, list[tuple[str, str, str]]]:
    """Final status and protocol lines (type, text, filename) for a finalized job's files."""
    entries: list[tuple[str, str, str]] = []
    roots: dict[str, str] = {}
    for name, data in files.items():
        if not name.lower().endswith(".xml"):
            continue
        try:
            roots[name] = _local(ET.fromstring(data).tag)
        except ET.ParseError as exc:
            entries.append(("error", f"ist keine wohlgeformte XML-Datei: {exc}", name))
    if any(kind == "error" for kind, _, _ in entries):
        return NOT_PROCESSED, entries
    if "document.xml" not in roots:
        entries.append(("error", "document.xml fehlt", ""))
        return NOT_PROCESSED, entries
    ledgers = [n for n, root in roots.items() if root in LEDGER_ROOTS]
    if not ledgers:
        entries.append(("error", "keine Belegdatei (LedgerImport) im Datenpaket", "document.xml"))
        return PARTIAL, entries
    entries.extend(("information", "Rechnungsinformation wurde übergeben", name) for name in ledgers)
    return SUCCEEDED, entries


class DxsoApi(ClientBasicsApi):
    def __init__(self, ctx: Context, oauth: OAuthServer) -> None:
        super().__init__(ctx, oauth, basics_content_type=JSON_UTF8)

    def _jobs(self) -> dict[str, Any]:
        jobs: dict[str, Any] = self.ctx.store.doc("dxso").setdefault("jobs", {})
        return jobs

    def _allow(self, request: Request, client_id: str) -> Response | None:
        allowed = authorize_call(
            self.ctx, self.oauth, request, "dco", SCOPE, client_id=client_id, service_scope=SCOPE
        )
        return allowed if isinstance(allowed, Response) else None

    def _job(self, client_id: str, job_id: str) -> dict[str, Any] | None:
        job = self._jobs().get(job_id.upper())
        return job if job is not None and job["client_id"] == client_id else None

    def _protocol(
        self, job: dict[str, Any], kind: str, text: str, filename: str, context: str | None = None
    ) -> None:
        entry = {"time": self.ctx.clock.berlin_iso(), "text": text, "type": kind, "filename": filename}
        if context:
            entry["context"] = context
        job["protocol"].append(entry)

    def _refresh(self, job: dict[str, Any]) -> None:
        """Move a finalized job forward once its processing time on the emulator clock has passed."""
        if job["status"] == PROCESSING and self.ctx.clock.now() >= job["done_at"]:
            files = {
                name: self.ctx.store.blob_path("dxso", job["client_id"], job["id"], stored).read_bytes()
                for name, stored in job["files"].items()
            }
            status, entries = evaluate(files)
            for kind, text, filename in entries:
                self._protocol(job, kind, text, filename)
            job["status"] = status
            self.ctx.store.save("dxso")

    def create_job(self, request: Request, client_id: str) -> Response:
        denied = self._allow(request, client_id)
        if denied is not None:
            return denied
        body: dict[str, Any] = {}
        if request.get_data():
            if request.mimetype != "application/json":
                return dco_error(400, "DCO01008", "restapi.InvalidMessageBodyFault")
            try:
                parsed: Any = json.loads(request.get_data())
            except ValueError:
                return dco_error(400, "DCO01008", "restapi.InvalidMessageBodyFault")
            if not isinstance(parsed, dict):
                return dco_error(400, "DCO01008", "restapi.InvalidMessageBodyFault")
            body = parsed
        import_type = body.get("import_type")
        month = body.get("accounting_month")
        if (import_type is None) != (month is None):
            return dco_error(400, "DCO01017", "restapi.MissingMandatoryParameterFault")
        if import_type is not None and (import_type not in IMPORT_TYPES or not MONTH.fullmatch(str(month))):
            return dco_error(400, "DCO01008", "restapi.InvalidMessageBodyFault")
        with self.ctx.store.lock:
            client = self.ctx.store.doc("datev")["clients"][client_id]
            years = client["basic_accounting_information"]
            fiscal_year = years[-1]
            if month is not None:
                first_day = f"{month}-01"
                matching = [y for y in years if y["fiscal_year_start"] <= first_day <= y["fiscal_year_end"]]
                if not matching:
                    return dco_error(400, "DCO01002", "restapi.InvalidDxsoImportTargetFault")
                fiscal_year = matching[0]
            job_id = uuid.uuid4().hex.upper()
            result: dict[str, Any] = {"id": job_id, "account_length": fiscal_year["account_length"]}
            if import_type is not None:
                key, names = IMPORT_TYPES[import_type]
                result[key] = names
            self._jobs()[job_id] = {
                "id": job_id,
                "client_id": client_id,
                "import_type": import_type,
                "accounting_month": month,
                "status": OPEN,
                "files": {},
                "protocol": [],
                "done_at": None,
            }
            self.ctx.store.save("dxso")
        return json_response(result, 201, content_type=JSON_UTF8)

    def add_files(self, request: Request, client_id: str, job_id: str) -> Response:
        denied = self._allow(request, client_id)
        if denied is not None:
            return denied
        if request.mimetype != "multipart/form-data":
            return dco_error(400, "DCO01004", "restapi.MultipartUploadFault")
        parts = request.files.getlist("files")
        if not parts:
            return dco_error(400, "DCO01004", "restapi.MultipartUploadFault")
        checked = []
        for part in parts:
            result = check_upload(part, MEDIA_TYPES)
            if isinstance(result, Rejected):
                return dco_error(400, result.code, result.fault)
            checked.append(result)
        with self.ctx.store.lock:
            job = self._job(client_id, job_id)
            if job is None or job["status"] == CANCELLED:
                return dco_error(400, "DCO01003", "restapi.InvalidDxsoJobIdFault")
            if job["status"] != OPEN:
                return dco_error(400, "DCO01007", "restapi.InvalidDxsoJobStateFault")
            for item in checked:
                stored = uuid.uuid4().hex
                self.ctx.store.write_blob(item.data, "dxso", client_id, job["id"], stored)
                job["files"][item.name] = stored
                self._protocol(job, "information", "wurde empfangen!", item.name)
            self.ctx.store.save("dxso")
        return json_response({}, 201, content_type=JSON)

    def finalize(self, request: Request, client_id: str, job_id: str) -> Response:
        denied = self._allow(request, client_id)
        if denied is not None:
            return denied
        if request.mimetype != "application/merge-patch+json":
            return dco_error(400, "DCO01008", "restapi.InvalidMessageBodyFault")
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        # The spec types `ready` as the string "true"; clients commonly send the boolean.
        if not isinstance(body, dict) or body.get("ready") not in (True, "true"):
            return dco_error(400, "DCO01008", "restapi.InvalidMessageBodyFault")
        with self.ctx.store.lock:
            job = self._job(client_id, job_id)
            if job is None or job["status"] == CANCELLED:
                return not_found("dco", "DXSO job")
            if job["status"] != OPEN:
                return dco_error(400, "DCO01007", "restapi.InvalidDxsoJobStateFault")
            delay = float(self.ctx.store.doc("settings").get("dxso_delay_seconds", 5))
            job["status"] = PROCESSING
            job["done_at"] = self.ctx.clock.now() + delay
            self._protocol(job, "information", "Datenübertragung wurde abgeschlossen", "")
            self.ctx.store.save("dxso")
        return empty_response(204)

    def get_job(self, request: Request, client_id: str, job_id: str) -> Response:
        denied = self._allow(request, client_id)
        if denied is not None:
            return denied
        with self.ctx.store.lock:
            job = self._job(client_id, job_id)
            if job is None:
                return not_found("dco", "DXSO job")
            self._refresh(job)
            return json_response({"id": job["id"], "status": job["status"]}, content_type=JSON_UTF8)

    def protocol_entries(self, request: Request, client_id: str, job_id: str) -> Response:
        denied = self._allow(request, client_id)
        if denied is not None:
            return denied
        with self.ctx.store.lock:
            job = self._job(client_id, job_id)
            if job is None or job["status"] == CANCELLED:
                return not_found("dco", "DXSO job")
            self._refresh(job)
            return json_response(job["protocol"], content_type=JSON_UTF8)

    def cancel(self, request: Request, client_id: str, job_id: str) -> Response:
        denied = self._allow(request, client_id)
        if denied is not None:
            return denied
        with self.ctx.store.lock:
            job = self._job(client_id, job_id)
            if job is None:
                return not_found("dco", "DXSO job")
            if job["status"] != OPEN:
                return dco_error(400, "DCO01007", "restapi.InvalidDxsoJobStateFault")
            # DATEV deletes all data of a cancelled job; only its status stays readable.
            shutil.rmtree(self.ctx.store.blob_path("dxso", client_id, job["id"]), ignore_errors=True)
            job.update({"status": CANCELLED, "files": {}, "protocol": []})
            self.ctx.store.save("dxso")
        return empty_response(204)
