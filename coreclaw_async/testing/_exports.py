"""Export files of a run's result rows, in each format the v2 export accepts.

v2 exports ``csv``, ``json``, ``jsonl``, ``xlsx``, ``xls``, ``xml``, ``html`` and ``rss``
(v1 only csv and json). Text formats are streamed in chunks so a large result never sits
in memory as one string; ``xlsx`` is a zip archive and is built whole. ``xls`` is an
Excel 2003 XML spreadsheet (which Excel opens as .xls), not the binary BIFF format.
"""

from __future__ import annotations

import csv
import html
import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final
from xml.sax.saxutils import escape

from . import _wire as wire
from ._catalog import result_row

__all__ = ["CONTENT_TYPES", "EXPORT_FORMATS", "TEXT_FORMATS", "export_chunks"]

EXPORT_FORMATS: Final = ("csv", "json", "jsonl", "xlsx", "xls", "xml", "html", "rss")
CONTENT_TYPES: Final[dict[str, str]] = {
    "csv": "text/csv",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xls": "application/vnd.ms-excel",
    "xml": "application/xml",
    "html": "text/html",
    "rss": "application/rss+xml",
}
TEXT_FORMATS: Final = frozenset(EXPORT_FORMATS) - {"xlsx"}
# Rows per chunk when streaming an export file.
EXPORT_CHUNK_ROWS = 1000

_XML_HEAD: Final = '<?xml version="1.0" encoding="UTF-8"?>\n'
_SHEET_NS: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XLSX_PARTS: Final = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType='
        '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType='
        '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{_REL_NS}"><Relationship Id="rId1" '
        f'Type="{_DOC_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{_SHEET_NS}" xmlns:r="{_DOC_REL}"><sheets>'
        '<sheet name="results" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{_REL_NS}"><Relationship Id="rId1" '
        f'Type="{_DOC_REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def _chunks(run_slug: str, keys: tuple[str, ...], count: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of a run, cut to ``keys``, in lists of at most `EXPORT_CHUNK_ROWS`."""
    for start in range(0, count, EXPORT_CHUNK_ROWS):
        rows = []
        for index in range(start, min(start + EXPORT_CHUNK_ROWS, count)):
            row = result_row(run_slug, index)
            rows.append({key: row[key] for key in keys})
        yield rows


def _text(value: Any) -> str:
    return escape(str(value))


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:  # at most a few letters: one per factor of 26
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_cell(ref: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{_text(value)}</t></is></c>'


def _xlsx(run_slug: str, keys: tuple[str, ...], count: int) -> bytes:
    lines = [f'{_XML_HEAD}<worksheet xmlns="{_SHEET_NS}"><sheetData>']
    header = "".join(_xlsx_cell(f"{_column(i)}1", key) for i, key in enumerate(keys))
    lines.append(f'<row r="1">{header}</row>')
    number = 1
    for rows in _chunks(run_slug, keys, count):
        for row in rows:
            number += 1
            cells = "".join(_xlsx_cell(f"{_column(i)}{number}", row[key]) for i, key in enumerate(keys))
            lines.append(f'<row r="{number}">{cells}</row>')
    lines.append("</sheetData></worksheet>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, part in _XLSX_PARTS.items():
            archive.writestr(name, _XML_HEAD + part)
        archive.writestr("xl/worksheets/sheet1.xml", "".join(lines))
    return buffer.getvalue()


def _xls_row(values: list[Any]) -> str:
    cells = []
    for value in values:
        kind = "Number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "String"
        cells.append(f'<Cell><Data ss:Type="{kind}">{_text(value)}</Data></Cell>')
    return f"<Row>{''.join(cells)}</Row>\n"


def _rss_item(row: dict[str, Any]) -> str:
    title = row.get("title", next(iter(row.values()), ""))
    link = f"<link>{_text(row['url'])}</link>" if "url" in row else ""
    summary = "\n".join(f"{key}: {value}" for key, value in row.items())
    return f"<item><title>{_text(title)}</title>{link}<description>{_text(summary)}</description></item>\n"


def _framing(fmt: str, run_slug: str, keys: tuple[str, ...]) -> tuple[str, str]:
    """Text before the first row and after the last one."""
    if fmt == "xml":
        return f"{_XML_HEAD}<items>\n", "</items>\n"
    if fmt == "html":
        head = "".join(f"<th>{html.escape(key)}</th>" for key in keys)
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Run results</title></head>'
            f"<body><table><thead><tr>{head}</tr></thead><tbody>\n",
            "</tbody></table></body></html>\n",
        )
    if fmt == "rss":
        return (
            f'{_XML_HEAD}<rss version="2.0"><channel><title>Results of run {run_slug}</title>'
            f"<link>https://coreclaw.com/</link><description>Result rows</description>\n",
            "</channel></rss>\n",
        )
    if fmt == "xls":
        return (
            f'{_XML_HEAD}<?mso-application progid="Excel.Sheet"?>\n'
            '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
            'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">'
            f'<Worksheet ss:Name="results"><Table>\n{_xls_row(list(keys))}',
            "</Table></Worksheet></Workbook>\n",
        )
    return "", ""


def _render(fmt: str, rows: list[dict[str, Any]], writer: Any, buffer: io.StringIO) -> str:
    """One chunk of rows in a text format."""
    if fmt == "csv":
        for row in rows:
            writer.writerow(row.values())
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text
    if fmt == "jsonl":
        return "".join(wire.dumps(row).decode() + "\n" for row in rows)
    if fmt == "xml":
        return "".join(
            "<item>" + "".join(f"<{key}>{_text(value)}</{key}>" for key, value in row.items()) + "</item>\n"
            for row in rows
        )
    if fmt == "html":
        return "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row.values()) + "</tr>\n"
            for row in rows
        )
    if fmt == "rss":
        return "".join(_rss_item(row) for row in rows)
    return "".join(_xls_row(list(row.values())) for row in rows)  # xls


async def export_chunks(run_slug: str, keys: tuple[str, ...], fmt: str, count: int) -> AsyncIterator[bytes]:
    """Yield the export file of ``count`` rows of ``run_slug`` in ``fmt``, piece by piece."""
    if fmt == "xlsx":
        yield _xlsx(run_slug, keys, count)
        return
    if fmt == "json":
        yield b"["
        for number, rows in enumerate(_chunks(run_slug, keys, count)):
            yield (b"," if number else b"") + b",".join(wire.dumps(row) for row in rows)
        yield b"]"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(keys)
    head, tail = _framing(fmt, run_slug, keys)
    yield head.encode() + _render(fmt, [], writer, buffer).encode()
    for rows in _chunks(run_slug, keys, count):
        yield _render(fmt, rows, writer, buffer).encode()
    if tail:
        yield tail.encode()
