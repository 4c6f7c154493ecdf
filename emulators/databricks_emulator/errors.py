"""Errors in the two shapes Databricks sends: REST errors and failed SQL statements."""

from __future__ import annotations


class ApiError(Exception):
    """A REST error: HTTP status plus the `{"error_code", "message"}` body Databricks returns."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class SqlError(Exception):
    """A SQL failure: reported as HTTP 200 with `status.state = FAILED` by the Statement Execution API.

    `error_class` is the Databricks error class put in brackets at the start of the message
    (e.g. `TABLE_OR_VIEW_NOT_FOUND`); `error_code` is the service-level code of `status.error`.
    """

    def __init__(
        self,
        error_class: str,
        message: str,
        sql_state: str = "42000",
        error_code: str = "BAD_REQUEST",
    ) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.sql_state = sql_state
        self.error_code = error_code
        self.detail = message

    @property
    def message(self) -> str:
        return f"[{self.error_class}] {self.detail} SQLSTATE: {self.sql_state}"
