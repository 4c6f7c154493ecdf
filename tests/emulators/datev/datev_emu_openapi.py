"""Validation of emulator traffic against DATEV's own OpenAPI documents (from ../shared).

Used by test_datev_emu_openapi.py (every operation, driven by hand) and by the tap's
tests/tap/booking/test_tap_requests_openapi.py (the requests the tap itself sends).
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import requests
from datev_emu_helpers import ADE, CLIENTS, DOCUMENTS, DXSO, EXTF
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse


def dxso_month_error(month: str) -> str:
    """The one request error expected (and asserted exactly) wherever a DXSO job is created: DATEV's
    DXSO document types `accounting_month` as `format: date` while its description and example say
    `YYYY-MM` ("2025-05"); the emulator and the tap follow the description."""
    return f"{month!r} is not a 'date'"


SPECS = {
    CLIENTS: "accounting-clients-2.0.json",
    DOCUMENTS: "accounting_documents-2.1.12.json",
    EXTF: "accounting_extf-files-3.0.1.json",
    DXSO: "accounting_dxso-jobs-2.1.7.json",
    ADE: "Accounting_Data_Exchange-1.5.8.json",
}
NDJSON = "application/x-ndjson"
# Accounting Data Exchange's TermOfPayment (and its PaymentDueInDays) require snake_case names
# (`cash_discount1_percentage`) while allowing only the camelCase properties they declare
# (`additionalProperties: false`), so no object can validate: the emulator serves the declared camelCase
# properties and these errors are expected (and asserted exactly) for each term of payment.
TERMS_OF_PAYMENT_ERRORS = (
    "'cash_discount1_percentage' is a required property",
    "'cash_discount2_percentage' is a required property",
)
DUE_IN_DAYS_ERRORS = (
    "'cash_discount1_days' is a required property",
    "'cash_discount2_days' is a required property",
    "'due_date_net' is a required property",
)


def _is_guid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class Validator:
    def __init__(self, shared: Path, emulator_url: str) -> None:
        self.apis: dict[str, OpenAPI] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        # DATEV's documents API uses the non-standard `format: guid`; openapi-core deserializes neither
        # merge-patch+json, problem+json nor ndjson by itself.
        config = Config(
            extra_format_validators={"guid": _is_guid},
            extra_format_unmarshallers={"guid": str},
            extra_media_type_deserializers={
                "application/merge-patch+json": json.loads,
                "application/problem+json": json.loads,
                NDJSON: self._ndjson,
            },
        )
        self._ndjson_array = True
        for prefix, name in SPECS.items():
            text = (shared / "datev-openapi" / name).read_text("utf-8")
            # ADE's clientId pattern uses .NET named groups `(?<name>...)`, which Python's re spells `(?P<`.
            document = json.loads(text.replace("(?<", "(?P<"))
            document["servers"] = [{"url": f"{emulator_url}{prefix}"}]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # ADE's URI pattern has a "nested set"
                self.apis[prefix] = OpenAPI.from_dict(document, config=config)
            self.documents[prefix] = document
        self.covered: set[tuple[str, str, str]] = set()

    def _ndjson(self, data: bytes | str) -> Any:
        """ndjson as the schema sees it: a list of the lines' values for an array schema, else the one
        line's value (a FiscalYear is one object on one line)."""
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        values = [json.loads(line) for line in text.splitlines() if line.strip()]
        if self._ndjson_array:
            return values
        return values[0] if len(values) == 1 else values

    def check(
        self,
        response: requests.Response,
        request_errors: tuple[str, ...] = (),
        response_errors: tuple[str, ...] = (),
    ) -> requests.Response:
        prefix = next(p for p in SPECS if response.request.path_url.startswith(p))
        api = self.apis[prefix]
        template = self._template(prefix, response)
        method = str(response.request.method).lower()
        success = self.documents[prefix]["paths"][template][method]["responses"].get("200", {})
        schema = success.get("content", {}).get(NDJSON, {}).get("schema", {})
        self._ndjson_array = schema.get("type") == "array"
        request = RequestsOpenAPIRequest(response.request)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openapi-core cannot check the oauth2 scheme ("unsupported")
            request_result = api.unmarshal_request(request)
            response_result = api.unmarshal_response(request, RequestsOpenAPIResponse(response))
        found = [str(cause) for error in request_result.errors for cause in _causes(error)]
        assert found == list(request_errors), (response.request.method, response.request.path_url, found)
        found = [str(cause) for error in response_result.errors for cause in _causes(error)]
        assert found == list(response_errors), (response.request.method, response.request.path_url, found)
        self.covered.add((prefix, method, template))
        return response

    def security_error(self, prefix: str) -> str:
        """The request error openapi-core reports for a call without the X-DATEV-Client-Id apiKey
        header (it cannot check the oauth2 scheme, so every requirement fails on the apiKey)."""
        requirements = [list(requirement) for requirement in self.documents[prefix]["security"]]
        return f"Security not found. Schemes not valid for any requirement: {requirements}"

    def _template(self, prefix: str, response: requests.Response) -> str:
        path = response.request.path_url.split("?")[0][len(prefix) :]
        for template in self.documents[prefix]["paths"]:
            pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path) and not (
                template.endswith("{document-id}") and path.endswith("/stapled")
            ):
                return str(template)
        raise AssertionError(f"no operation for {path}")

    def all_operations(self, prefixes: tuple[str, ...] = tuple(SPECS)) -> set[tuple[str, str, str]]:
        return {
            (prefix, method, template)
            for prefix, document in self.documents.items()
            if prefix in prefixes
            for template, item in document["paths"].items()
            for method in item
            if method in ("get", "post", "put", "delete")
        }


def _causes(error: Exception) -> list[object]:
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        return [e.message for e in schema_errors]
    return [cause if cause is not None else error]
