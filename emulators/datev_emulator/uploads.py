"""Checks DATEV applies to uploaded files (documents and DXSO): names, NFC, extension, size, content."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from werkzeug.datastructures import FileStorage

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 255
# The whitelist from DATEV's documents API; every other character is replaced by "_".
NAME_WHITELIST = frozenset(
    " &()+-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ"
)
# DuoNext formats (GIF, JPEG, JPG, PNG, TIF, TIFF, XML, PDF) and their media types.
MEDIA_TYPES = {
    "gif": ("image/gif",),
    "jpeg": ("image/jpeg", "image/jpg", "image/pjpeg"),
    "jpg": ("image/jpeg", "image/jpg", "image/pjpeg"),
    "png": ("image/png",),
    "tif": ("image/tiff",),
    "tiff": ("image/tiff",),
    "xml": ("application/xml", "text/xml"),
    "pdf": ("application/pdf",),
}
GENERIC_TYPES = ("", "application/octet-stream")


@dataclass(frozen=True)
class Checked:
    name: str
    data: bytes
    media_type: str


@dataclass(frozen=True)
class Rejected:
    code: str
    fault: str


def clean_name(name: str) -> str:
    return "".join(ch if ch in NAME_WHITELIST else "_" for ch in name)


def _content_matches(extension: str, data: bytes) -> bool:
    head = data[:16]
    if extension == "pdf":
        return head.startswith(b"%PDF-")
    if extension == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if extension in ("jpg", "jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if extension == "gif":
        return head.startswith((b"GIF87a", b"GIF89a"))
    if extension in ("tif", "tiff"):
        return head.startswith((b"II*\x00", b"MM\x00*"))
    if extension == "xml":
        return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    return False


def check_upload(part: FileStorage, allowed: dict[str, tuple[str, ...]] = MEDIA_TYPES) -> Checked | Rejected:
    raw_name = part.filename or ""
    if not raw_name:
        return Rejected("DCO01233", "restapi.DataNameIsMissingFault")
    name = PurePosixPath(raw_name.replace("\\", "/")).name
    if not unicodedata.is_normalized("NFC", name):
        # DATEV: decomposed characters (e.g. "u" + U+0308) are not supported in file names.
        return Rejected("DCO01001", "restapi.InvalidResourceModificationFault")
    if len(name) > MAX_NAME_CHARS:
        return Rejected("DCO01222", "restapi.FileNameTooLongFault")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in allowed:
        return Rejected("DCO01015", "restapi.UnsupportedFileTypeFault")
    data = part.stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return Rejected("DCO01016", "restapi.FileSizeFault")
    declared = (part.mimetype or "").lower()
    if declared not in GENERIC_TYPES and declared not in allowed[extension]:
        return Rejected("DCO01219", "restapi.ContentTypeDoesNotMatchFileExtensionFault")
    if not _content_matches(extension, data):
        return Rejected("DCO01219", "restapi.ContentTypeDoesNotMatchFileExtensionFault")
    return Checked(name=clean_name(name), data=data, media_type=allowed[extension][0])
