"""DATEV's document rules: types, 20 MB, NFC names and the character whitelist."""

from __future__ import annotations

import unicodedata

import pytest

from tap_datev.documents_rules import MAX_DOCUMENT_BYTES, DocumentRuleError, check_document


def test_nfd_name_becomes_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Rechnung Müller.pdf")
    assert decomposed != "Rechnung Müller.pdf"
    checked = check_document(decomposed, 10, document_type="Rechnungseingang", note="Grüße")
    assert checked.file_name == "Rechnung Müller.pdf"
    assert checked.media_type == "application/pdf"
    assert checked.note == "Grüße"


def test_refuses_characters_naming_them() -> None:
    with pytest.raises(DocumentRuleError) as exc:
        check_document("Rechnung#1: €.pdf", 10)
    message = str(exc.value)
    assert "U+0023" in message and "U+003A" in message and "U+20AC" in message


@pytest.mark.parametrize("name", ["a.zip", "a.docx", "noextension"])
def test_refuses_types(name: str) -> None:
    with pytest.raises(DocumentRuleError, match="allowed types"):
        check_document(name, 10)


def test_size_limit() -> None:
    check_document("a.png", MAX_DOCUMENT_BYTES)
    with pytest.raises(DocumentRuleError, match="20 MB"):
        check_document("a.png", MAX_DOCUMENT_BYTES + 1)


def test_metadata_limits() -> None:
    with pytest.raises(DocumentRuleError, match="at most 30"):
        check_document("a.pdf", 1, document_type="x" * 31)
    with pytest.raises(DocumentRuleError, match="at most 255"):
        check_document("a.pdf", 1, note="x" * 256)
