"""DATEV's rules for uploaded documents (Belege online), checked before anything is recorded.

From DATEV's accounting:documents OpenAPI (2.1.12): one file per document, at most 20 MB, no ZIP,
DuoNext formats GIF/JPEG/JPG/PNG/TIF/TIFF/XML/PDF; file name and metadata must be precomposed
Unicode (NFC), and only the whitelisted characters may appear in a file name (DATEV would replace
others with "_" silently; we refuse instead, naming them, so the user chooses the name).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024

ALLOWED_EXTENSIONS: dict[str, str] = {
    "gif": "image/gif",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "xml": "application/xml",
    "pdf": "application/pdf",
}

# DATEV's whitelist: "Space &()+-._ 0-9A-Za-z" and U+00C0..U+00FF except the
# multiplication and division signs.
_LATIN1_LETTERS = {chr(c) for c in range(0xC0, 0x100)} - {"\u00d7", "\u00f7"}
ALLOWED_NAME_CHARS = frozenset(
    " &()+-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
) | frozenset(_LATIN1_LETTERS)

MAX_DOCUMENT_TYPE = 30
MAX_NOTE = 255


class DocumentRuleError(ValueError):
    """The document breaks one of DATEV's upload rules; the message says which."""


@dataclass(frozen=True)
class CheckedDocument:
    file_name: str  # NFC
    media_type: str
    document_type: str | None
    note: str | None


def _nfc_text(label: str, value: str | None, limit: int) -> str | None:
    if value is None or value == "":
        return None
    value = unicodedata.normalize("NFC", value)
    if len(value) > limit:
        raise DocumentRuleError(f"{label} is {len(value)} characters long; DATEV allows at most {limit}")
    bad = sorted({c for c in value if unicodedata.category(c).startswith("C")})
    if bad:
        raise DocumentRuleError(f"{label} contains control characters: {', '.join(map(_show, bad))}")
    return value


def _show(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "") + (f" {char!r}" if char.isprintable() else "")


def check_file_name(file_name: str) -> str:
    """The name in NFC, or DocumentRuleError naming the characters DATEV does not accept."""
    name = unicodedata.normalize("NFC", file_name)
    if not name or name in {".", ".."}:
        raise DocumentRuleError("The file name is empty")
    bad = sorted({c for c in name if c not in ALLOWED_NAME_CHARS})
    if bad:
        raise DocumentRuleError(
            f"The file name {name!r} contains characters DATEV does not accept: "
            + ", ".join(map(_show, bad))
            + " (allowed: letters A-Z a-z À-ÿ, digits, space and & ( ) + - . _)"
        )
    return name


def check_document(
    file_name: str, size: int, *, document_type: str | None = None, note: str | None = None
) -> CheckedDocument:
    """Apply DATEV's rules; return the NFC name and metadata, or raise DocumentRuleError."""
    name = check_file_name(file_name)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED_EXTENSIONS:
        raise DocumentRuleError(
            f"DATEV does not accept {'.' + extension if extension else 'files without an extension'}"
            f" ({name!r}); allowed types: {', '.join(sorted(ALLOWED_EXTENSIONS))}"
        )
    if size <= 0:
        raise DocumentRuleError(f"{name!r} is empty")
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentRuleError(
            f"{name!r} is {size} bytes; DATEV accepts at most {MAX_DOCUMENT_BYTES} bytes (20 MB)"
        )
    return CheckedDocument(
        file_name=name,
        media_type=ALLOWED_EXTENSIONS[extension],
        document_type=_nfc_text("The document type", document_type, MAX_DOCUMENT_TYPE),
        note=_nfc_text("The note", note, MAX_NOTE),
    )
