"""booking_lines records of a file read as a body (extf/body.py), a block of lines at a time. No I/O.

Each block is read with pyarrow.csv into one string column per EXTF column; whole columns are checked
and converted at once (pyarrow.compute), and each record is then the record template updated with
that line's values of the non-empty columns. A line a columnar check flags (a value that is not in
its plain form, a warning to give) is made by LineRecords from the csv module's row of the block,
exactly as for other files, warnings included. A block pyarrow reads differently from the csv module
(a line break inside quotes, a line with another number of fields, a field over the csv module's
size limit) ends the columnar read: from that block on, every line goes through LineRecords.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pcsv

from tap_datev.booking_line import EUR
from tap_datev.extf.read import _Reader, body_rows
from tap_datev.extf.records import SPECIAL_FIELDS

if TYPE_CHECKING:
    from tap_datev.booking_line import Column
    from tap_datev.extf.body import Block, ExtfBody
    from tap_datev.extf.read import ExtfFile
    from tap_datev.extf.records import LineRecords

# The plain forms converted in whole columns; any other value is converted (or refused, with its
# warning) one value at a time by the same functions as the per-line path.
_DIGITS = r"^[0-9]{1,18}$"  # fits int64
_AMOUNT = r"^(?:0|[1-9][0-9]{0,12}),[0-9][0-9]$"  # booking_line.amount_text's canonical form
_NULL = pa.scalar(None, pa.string())
pc: Any = _compute  # kernels pyarrow's stubs do not declare


def body_records(f: ExtfFile, body: ExtfBody, lines: LineRecords) -> Iterator[list[dict[str, Any]]]:
    """The records of each block in turn."""
    first_line = 3
    for index, block in enumerate(body.blocks()):
        table = _read_block(block, len(lines.columns))
        if table is None:
            reader = _Reader(f.filename, strict=False)
            reader.warnings = f.warnings
            for row, line in body_rows(reader, body.lines(first_block=index), first_line):
                yield [lines.record(row, line)]
            return
        yield _block_records(table, block, first_line, lines)
        first_line += table.num_rows


@cache
def _options(width: int) -> tuple[pcsv.ReadOptions, pcsv.ParseOptions, pcsv.ConvertOptions]:
    names = [f"c{i}" for i in range(width)]
    return (
        pcsv.ReadOptions(column_names=names),
        pcsv.ParseOptions(
            delimiter=";",
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            ignore_empty_lines=False,
        ),
        pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _read_block(block: Block, n: int) -> pa.Table | None:
    """The block's columns 0..n-1 as string arrays (null for an empty field); None when pyarrow would
    read the block otherwise than the csv module (see the module docstring) or lines have other
    than n fields (LineRecords warns about those)."""
    first = next(csv.reader(io.StringIO(block.text, newline=""), delimiter=";"), [])
    if len(first) < n:
        return None
    try:
        table = pcsv.read_csv(pa.py_buffer(block.utf8), *_options(len(first)))
    except pa.ArrowInvalid:
        return None
    if table.num_rows != block.line_count:
        return None  # a line break inside quoted text
    limit = csv.field_size_limit()
    for i, column in enumerate(table.columns):
        if column.null_count == len(column):
            continue
        if i >= n:
            return None  # a non-empty field beyond the format's columns: LineRecords warns
        if (
            pc.max(pc.binary_length(column)).as_py() > limit
            and pc.max(pc.utf8_length(column)).as_py() > limit
        ):
            return None  # the csv module refuses such a field: its error names the line
    return table.select(range(n))


def _block_records(
    table: pa.Table, block: Block, first_line: int, lines: LineRecords
) -> list[dict[str, Any]]:
    rows = table.num_rows
    arrays: dict[str, pa.Array] = {
        c.field: table.column(i).combine_chunks() for i, c in enumerate(lines.columns)
    }
    bad: list[int] = []  # lines LineRecords makes: a value not in its plain form, a warning
    keys: list[str] = []
    values: list[list[Any]] = []

    def put(key: str, column: list[Any]) -> None:
        keys.append(key)
        values.append(column)

    for column in lines.columns:
        array = arrays[column.field]
        if column.field in SPECIAL_FIELDS or array.null_count == rows:
            continue
        converted, failed = _convert(array, column, lines)
        put(column.field, converted)
        bad.extend(failed)

    amount = _amounts(arrays["umsatz"], bad)
    base = _amounts(arrays["basis_umsatz"], bad)
    if arrays["kurs"].null_count != rows:
        kurs, failed = _by_value(arrays["kurs"], lines.converters["kurs"], None, pc.is_valid(arrays["kurs"]))
        put("kurs", kurs)
        bad.extend(failed)
    belegdatum = arrays["belegdatum"]
    if belegdatum.null_count != rows:
        put("belegdatum", belegdatum.to_pylist())
        dates, failed = _booking_dates(belegdatum, lines)
        put("booking_date", dates)
        bad.extend(failed)

    debit_credit = arrays["soll_haben_kennzeichen"]
    debit = pc.fill_null(pc.equal(debit_credit, "S"), False)
    credit = pc.fill_null(pc.equal(debit_credit, "H"), False)
    bad.extend(_indices(pc.invert(pc.or_(debit, credit))))
    currency = arrays["wkz_umsatz"]
    if lines.ctx.default_currency is not None:
        currency = pc.fill_null(currency, lines.ctx.default_currency)
    # The EUR rule (booking_line.eur_text) where it needs no arithmetic: the amount in EUR, or a
    # Basis-Umsatz in EUR. A line converted by its Kurs, or without an EUR amount, is flagged.
    base_in_eur = pc.fill_null(pc.and_(pc.is_valid(base), pc.equal(arrays["wkz_basis_umsatz"], EUR)), False)
    eur = pc.if_else(
        pc.fill_null(pc.equal(currency, EUR), False), amount, pc.if_else(base_in_eur, base, _NULL)
    )
    bad.extend(_indices(pc.and_(pc.is_valid(amount), pc.is_null(eur))))

    put("line_number", list(range(first_line, first_line + rows)))
    put("currency", currency.to_pylist())
    put("amount", amount.to_pylist())
    put("debit_credit", debit_credit.to_pylist())
    for side, money in (("", amount), ("_eur", eur)):
        negated = _negate(money)
        put(f"account_amount{side}", pc.if_else(debit, money, negated).to_pylist())
        put(f"contra_account_amount{side}", pc.if_else(debit, negated, money).to_pylist())
    put("umsatz", amount.to_pylist())
    put("basis_umsatz", base.to_pylist())
    reversal = arrays.get("generalumkehr")
    if reversal is not None and reversal.null_count != rows:
        put("is_general_reversal", pc.fill_null(pc.equal(reversal, "1"), False).to_pylist())
    labels = lines.ctx.labels
    if labels:
        by_number = {int(k): v for k, v in labels.items() if k.isdigit() and str(int(k)) == k}
        for field, label in (("konto", "account_label"), ("gegenkonto", "contra_account_label")):
            if field in keys:
                put(label, [by_number.get(k) for k in values[keys.index(field)]])

    # Column by column: one dict store per non-empty value, no per-line tuple of values.
    records = [lines.template.copy() for _ in range(rows)]
    for key, converted in zip(keys, values, strict=True):
        for rec, value in zip(records, converted, strict=True):
            rec[key] = value
    if bad:
        raw = [
            row
            for row, _ in body_rows(
                _Reader(lines.filename, strict=False), io.StringIO(block.text, newline=""), 1
            )
        ]
        for j in set(bad):
            records[j] = lines.record(raw[j], first_line + j)
    return records


def _indices(mask: pa.Array) -> list[int]:
    return pc.indices_nonzero(mask).to_pylist()


def _amounts(array: pa.Array, bad: list[int]) -> pa.Array:
    """Amount text per line, null where the raw text is empty or not plain (those lines flagged)."""
    plain = pc.match_substring_regex(array, _AMOUNT)
    bad.extend(_indices(pc.and_(pc.is_valid(array), pc.invert(plain))))
    return pc.replace_substring(pc.if_else(plain, array, _NULL), ",", ".")


def _negate(money: pa.Array) -> pa.Array:
    """booking_line.negate for whole columns of unsigned money text."""
    return pc.if_else(pc.equal(money, "0.00"), money, pc.binary_join_element_wise("-", money, ""))


def _convert(array: pa.Array, column: Column, lines: LineRecords) -> tuple[list[Any], list[int]]:
    """Record values of one column and the lines whose value cannot be converted."""
    convert = lines.converters.get(column.field)
    if convert is None:
        return array.to_pylist(), []
    if column.kind == "int":
        plain = pc.fill_null(pc.match_substring_regex(array, _DIGITS), False)
        done = pc.cast(pc.if_else(plain, array, _NULL), pa.int64()).to_pylist()
    elif column.kind == "amount":
        plain = pc.fill_null(pc.match_substring_regex(array, _AMOUNT), False)
        done = pc.replace_substring(pc.if_else(plain, array, _NULL), ",", ".").to_pylist()
    else:
        return _by_value(array, convert, None, pc.is_valid(array))
    return _by_value(array, convert, done, pc.and_(pc.is_valid(array), pc.invert(plain)))


def _by_value(
    array: pa.Array, convert: Callable[[str], Any], done: list[Any] | None, todo: pa.Array
) -> tuple[list[Any], list[int]]:
    """`done` (or nulls) with the values at `todo` converted one distinct value at a time; the lines
    whose value `convert` refuses are returned (LineRecords warns about them)."""
    out = done if done is not None else [None] * len(array)
    where = _indices(todo)
    if not where:
        return out, []
    failed: list[int] = []
    seen: dict[str, Any] = {}
    for j, raw in zip(where, array.take(where).to_pylist(), strict=True):
        if raw in seen:
            out[j] = seen[raw]
            continue
        try:
            out[j] = seen[raw] = convert(raw)
        except ValueError:
            failed.append(j)
    return out, failed


def _booking_dates(belegdatum: pa.Array, lines: LineRecords) -> tuple[list[Any], list[int]]:
    resolve = lines.resolver.resolve

    def convert(raw: str) -> str | None:
        day, problem = resolve(raw)
        if problem is not None:
            raise ValueError(problem)
        return day

    return _by_value(belegdatum, convert, None, pc.is_valid(belegdatum))
