"""accounting-documents v2 (Belege online): clients, client basics, document types, DUO version and uploads.

The documents and DXSO APIs share GET /clients and GET /clients/{client-id}; both live here."""

from __future__ import annotations

import json
import unicodedata
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from datev_emulator.clients_api import sorted_clients
from datev_emulator.context import Context
from datev_emulator.guard import Allowed, authorize_call, not_found
from datev_emulator.oauth import OAuthServer
from datev_emulator.responses import JSON, JSON_UTF8, dco_error, json_response
from datev_emulator.uploads import MEDIA_TYPES, Checked, Rejected, check_upload

READ_SCOPE = "accounting:clients:read"
DOCUMENTS_SCOPE = "accounting:documents"
MAX_STAPLED = 10
METADATA_LIMITS = {
    "document_type": (30, "DCO01227", "restapi.PropertyDocumentTypeTooLongFault"),
    "note": (255, "DCO01223", "restapi.PropertyNoteTooLongFault"),
    "category": (30, "DCO01224", "restapi.PropertyCategoryNameTooLongFault"),
    "folder": (30, "DCO01225", "restapi.PropertyFolderNameTooLongFault"),
    "register": (30, "DCO01226", "restapi.PropertyRegisterNameTooLongFault"),
}
REPOSITORY_LEVELS = ("category", "folder", "register")


def basics_view(client: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_number": client["client_number"],
        "consultant_number": client["consultant_number"],
        "id": client["id"],
        "name": client["name"],
        "is_document_management_available": client["is_document_management_available"],
        "basic_accounting_information": client["basic_accounting_information"][-3:],
    }


class ClientBasicsApi:
    """GET /clients and GET /clients/{client-id} as the documents and DXSO APIs serve them."""

    def __init__(self, ctx: Context, oauth: OAuthServer, basics_content_type: str) -> None:
        self.ctx = ctx
        self.oauth = oauth
        self.basics_content_type = basics_content_type

    def list_clients(self, request: Request) -> Response:
        allowed = authorize_call(self.ctx, self.oauth, request, "dco", READ_SCOPE)
        if isinstance(allowed, Response):
            return allowed
        clients = sorted_clients(self.ctx)
        if not clients:
            return not_found("dco", "clients")
        return json_response(
            [{k: c[k] for k in ("client_number", "consultant_number", "id", "name")} for c in clients],
            content_type=JSON_UTF8,
        )

    def get_client(self, request: Request, client_id: str) -> Response:
        allowed = authorize_call(self.ctx, self.oauth, request, "dco", READ_SCOPE, client_id=client_id)
        if isinstance(allowed, Response):
            return allowed
        assert allowed.client is not None
        return json_response(basics_view(allowed.client), content_type=self.basics_content_type)


class DocumentsApi(ClientBasicsApi):
    def __init__(self, ctx: Context, oauth: OAuthServer) -> None:
        super().__init__(ctx, oauth, basics_content_type=JSON)

    def _authorize_documents(self, request: Request, client_id: str) -> Allowed | Response:
        """Bearer, client id header, the documents scope, and a client that booked Belegbilderservice."""
        return authorize_call(
            self.ctx,
            self.oauth,
            request,
            "dco",
            DOCUMENTS_SCOPE,
            client_id=client_id,
            service_scope=DOCUMENTS_SCOPE,
        )

    def document_types(self, request: Request, client_id: str) -> Response:
        allowed = self._authorize_documents(request, client_id)
        if isinstance(allowed, Response):
            return allowed
        assert allowed.client is not None
        return json_response(allowed.client["document_types"], content_type=JSON)

    def duo_version(self, request: Request, client_id: str) -> Response:
        allowed = authorize_call(self.ctx, self.oauth, request, "dco", READ_SCOPE, client_id=client_id)
        if isinstance(allowed, Response):
            return allowed
        extensions = sorted(MEDIA_TYPES)
        return json_response(
            {
                "allowed_file_extensions": extensions,
                "allowed_staple_file_extensions": extensions,
                "staple_logic": "logically",
            },
            content_type=JSON,
        )

    def post_document(self, request: Request, client_id: str) -> Response:
        return self._upload(request, client_id, str(uuid.uuid4()), stapled=False)

    def put_document(self, request: Request, client_id: str, document_id: str) -> Response:
        return self._upload(request, client_id, document_id, stapled=False, client_chosen_id=True)

    def put_stapled(self, request: Request, client_id: str) -> Response:
        return self._upload(request, client_id, str(uuid.uuid4()), stapled=True)

    # -- upload --------------------------------------------------------------------------------------
    def _upload(
        self,
        request: Request,
        client_id: str,
        document_id: str,
        stapled: bool,
        client_chosen_id: bool = False,
    ) -> Response:
        allowed = self._authorize_documents(request, client_id)
        if isinstance(allowed, Response):
            return allowed
        assert allowed.client is not None
        if client_chosen_id and not _is_guid(document_id):
            return dco_error(400, "DCO01234", "restapi.WrongUuidFormatFault")
        if request.mimetype != "multipart/form-data":
            return dco_error(400, "DCO01004", "restapi.MultipartUploadFault")
        parts = request.files.getlist("files" if stapled else "file")
        if not parts:
            return dco_error(400, "DCO01220", "restapi.FilesParameterIsMissingFault")
        if (stapled and len(parts) > MAX_STAPLED) or (not stapled and len(parts) > 1):
            return dco_error(400, "DCO01232", "restapi.MultipleFilesUploadIsNotSupportedFault")
        metadata = _parse_metadata(request, allowed.client)
        if isinstance(metadata, Rejected):
            return dco_error(400, metadata.code, metadata.fault)
        checked: list[Checked] = []
        for part in parts:
            result = check_upload(part)
            if isinstance(result, Rejected):
                return dco_error(400, result.code, result.fault)
            checked.append(result)

        key = document_id.lower()
        with self.ctx.store.lock:
            docs = self.ctx.store.doc("documents").setdefault("by_client", {}).setdefault(client_id, {})
            if key in docs:
                return dco_error(409, "DCO01012", "restapi.KeyConflictFault")
            uploaded = self.ctx.clock.berlin_iso()
            files = []
            for item in checked:
                file_id = str(uuid.uuid4()).upper()
                self.ctx.store.write_blob(item.data, "documents", client_id, key, file_id)
                files.append(
                    {
                        "id": file_id,
                        "name": item.name,
                        "size": len(item.data),
                        "upload_date": uploaded,
                        "media_type": item.media_type,
                    }
                )
            document: dict[str, Any] = {"id": document_id, "files": files}
            document.update({k: v for k, v in metadata.items() if k in ("document_type", "note") and v})
            docs[key] = {**document, "metadata": metadata}
            self.ctx.store.save("documents")
        return json_response(document, 201, content_type=JSON)


def _is_guid(value: str) -> bool:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36 and parsed.variant == uuid.RFC_4122


def _parse_metadata(request: Request, client: dict[str, Any]) -> dict[str, str] | Rejected:
    raw: str | None = request.form.get("metadata")
    if raw is None and "metadata" in request.files:
        raw = request.files["metadata"].read().decode("utf-8", errors="replace")
    if raw is None or not raw.strip():
        return {}
    parsing = Rejected("DCO01217", "restapi.MetadataParsingFault")
    try:
        data = json.loads(raw)
    except ValueError:
        return parsing
    if not isinstance(data, dict):
        return parsing
    metadata: dict[str, str] = {}
    for field, (limit, code, fault) in METADATA_LIMITS.items():
        value = data.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or not unicodedata.is_normalized("NFC", value):
            return parsing  # DATEV: metadata must be precomposed (NFC) text
        if len(value) > limit:
            return Rejected(code, fault)
        metadata[field] = value
    levels = [bool(metadata.get(level)) for level in REPOSITORY_LEVELS]
    if any(levels) and not all(levels):
        return parsing  # category, folder and register: all three or none
    doc_type = metadata.get("document_type")
    if doc_type and doc_type not in {t["name"] for t in client["document_types"]}:
        return Rejected("DCO01010", "restapi.InvalidDocumentTypeFault")
    return metadata
