"""Statement boundaries: `;`-separated scripts (Jobs SQL files), and Databricks SQL scripting, the
part the emulator runs: a top-level `BEGIN … END` compound statement whose body is plain SQL
statements, each ended by `;`.

As on Databricks (SQL warehouses, DBR 16.3+) the compound is one statement of a request: nothing may
follow its `END` but one `;`, and a top-level compound takes no label. Its statements run in order,
each committed on its own (NOT ATOMIC); the first failing one ends the script with its own error.
Variables, conditions, handlers and control flow are not emulated.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from databricks_emulator.errors import SqlError

# Words that start a scripting element other than a plain SQL statement.
_CONTROL_WORDS = frozenset(
    {
        "BEGIN",
        "DECLARE",
        "IF",
        "CASE",
        "WHILE",
        "REPEAT",
        "LOOP",
        "FOR",
        "LEAVE",
        "ITERATE",
        "SIGNAL",
        "RESIGNAL",
    }
)


def _tokens(sql: str) -> list[Token]:
    try:
        # The dialect's own tokenizer: Databricks strings escape quotes with a backslash.
        return sqlglot.Dialect.get_or_raise("databricks").tokenize(sql)
    except TokenError as exc:
        raise SqlError("PARSE_SYNTAX_ERROR", f"Syntax error: {exc}", "42601") from exc


def split_statements(sql: str) -> list[str]:
    """Split a script on top-level semicolons (string literals and comments respected)."""
    pieces: list[str] = []
    start = 0
    for token in _tokens(sql):
        if token.token_type == TokenType.SEMICOLON:
            pieces.append(sql[start : token.start])
            start = token.end + 1
    pieces.append(sql[start:])
    return [p.strip() for p in pieces if p.strip()]


def _syntax_error(near: str) -> SqlError:
    return SqlError("PARSE_SYNTAX_ERROR", f"Syntax error at or near '{near}'.", "42601")


_STARTS_WITH_BEGIN = re.compile(r"\s*BEGIN\b", re.IGNORECASE)


def is_compound(sql: str) -> bool:
    """Whether the request is a compound statement (or tries to be one: it starts with BEGIN)."""
    return _STARTS_WITH_BEGIN.match(sql) is not None


def compound_body(sql: str) -> list[str]:
    """The statements of a top-level compound statement, in order; PARSE_SYNTAX_ERROR for what
    Databricks' parser refuses (text after END, a statement without its `;`, a missing END)."""
    tokens = _tokens(sql)
    if not tokens or tokens[0].text.upper() != "BEGIN":
        raise _syntax_error(tokens[0].text if tokens else "end of input")
    last = len(tokens) - 1
    if tokens[last].token_type == TokenType.SEMICOLON:
        last -= 1
    if last < 1 or tokens[last].text.upper() != "END":
        # e.g. `BEGIN … END; SELECT 1`: a compound mixed with other statements
        raise _syntax_error(tokens[last].text if last >= 1 else "end of input")
    body = tokens[1:last]
    statements: list[str] = []
    start: Token | None = None
    for token in body:
        if token.token_type == TokenType.SEMICOLON:
            if start is None:
                raise _syntax_error(";")
            statements.append(sql[start.start : token.start].strip())
            start = None
        elif start is None:
            start = token
    if start is not None:  # a statement in a compound ends with `;`
        raise _syntax_error(tokens[last].text)
    for statement in statements:
        first = statement.split(None, 1)[0].upper()
        if first == "END" or first.endswith(":"):
            raise _syntax_error(first)
        if first in _CONTROL_WORDS:
            raise SqlError(
                "EMULATOR_UNSUPPORTED_SCRIPTING",
                f"The emulator runs compound statements of plain SQL statements only, not {first}.",
                "0A000",
            )
    return statements
