"""The I/O edge: reading and writing tables and files. No other module touches the disk
except ``tracking`` (through MLflow) and ``bundle`` (through these helpers).

:func:`read_table` is the one reader of every input table, for training and for scoring:
CSV or TSV (separator sniffed, UTF-8 with or without BOM, UTF-16 with BOM), Excel
``.xlsx`` and Parquet.
"""

from __future__ import annotations

import codecs
import csv
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from mqlml.errors import MqlmlError

#: Extensions :func:`find_table` looks for, in this order.
TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx", ".parquet")
#: Extensions :func:`read_table` reads.
READ_SUFFIXES = (".csv", ".tsv", ".xlsx", ".parquet", ".pq")
#: Field separators a CSV export may use; the first line decides.
CSV_SEPARATORS = ",;\t|"
# Byte-order marks and the encoding they announce; without one, a file must be UTF-8.
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def table_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the extension of a file to *write*; raises otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise MqlmlError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; expected .csv or .parquet"
    )


def text_encoding(path: str | Path) -> str:
    """The encoding of a text file: UTF-16 or UTF-8 by its byte-order mark, else UTF-8.

    Excel's "Unicode text" export is UTF-16 with a BOM; its "CSV UTF-8" export is UTF-8
    with a BOM. A BOM is never part of the first column's name.

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    str
        A codec name for :func:`open`: ``utf-16`` or ``utf-8-sig``.
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return "utf-8-sig"


def sniff_separator(path: str | Path, *, encoding: str | None = None) -> str:
    """The field separator of a CSV file (``,``, ``;``, tab or ``|``), from its header line.

    Spreadsheets in many locales write ``;`` because ``,`` is their decimal mark.

    Parameters
    ----------
    path : path
        The file.
    encoding : str, optional
        Its encoding; default :func:`text_encoding`.

    Returns
    -------
    str
        One of :data:`CSV_SEPARATORS`; ``,`` when the header says nothing.
    """
    encoding = encoding or text_encoding(path)
    with open(path, encoding=encoding, newline="") as fh:
        header = fh.readline()
    if not header.strip():
        return ","
    try:
        return csv.Sniffer().sniff(header, delimiters=CSV_SEPARATORS).delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one input table: CSV or TSV, Excel ``.xlsx`` (first sheet) or Parquet.

    CSV/TSV: any separator of :data:`CSV_SEPARATORS` (sniffed from the header), quoted
    fields, CRLF, UTF-8 with or without BOM, or UTF-16 with BOM. Every CSV and Excel cell
    comes back as text (missing when empty), so identifiers such as ``00123`` keep their
    leading zeros and typing happens in one place (:mod:`mqlml.data.validate`), with
    errors that name rows. Parquet columns keep their types.

    Parameters
    ----------
    path : path
        The file; its extension chooses the format.

    Returns
    -------
    DataFrame

    Raises
    ------
    MqlmlError
        For a missing, empty or unreadable file, an unsupported extension, or a CSV that
        is not UTF-8 or UTF-16 (the message says how to re-save it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READ_SUFFIXES:
        raise MqlmlError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; "
            "expected .csv, .tsv, .xlsx or .parquet"
        )
    if not path.is_file():
        raise MqlmlError(f"{path}: file not found")
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".xlsx":
            frame = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl")
            return frame.astype("str").where(frame.notna())
        encoding = text_encoding(path)
        return pd.read_csv(
            path,
            sep=sniff_separator(path, encoding=encoding),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding=encoding,
        )
    except UnicodeError as exc:
        decode = isinstance(exc, UnicodeDecodeError)
        where = f" ({exc.reason} at byte {exc.start})" if decode else ""
        raise MqlmlError(
            f"{path}: not UTF-8 text{where}; re-save the export as CSV UTF-8"
        ) from None
    except pd.errors.EmptyDataError:
        raise MqlmlError(f"{path}: the file is empty (expected a header row)") from None
    except (pd.errors.ParserError, OSError, ValueError, KeyError) as exc:
        raise MqlmlError(f"{path}: could not be read as {suffix[1:]}: {exc}") from None


def read_resource(name: str) -> str:
    """The text of a file shipped inside the package (``mqlml/resources/<name>``)."""
    from importlib.resources import files

    resource = files("mqlml").joinpath("resources", name)
    if not resource.is_file():
        raise MqlmlError(f"mqlml resource {name!r} not found in the installed package")
    return resource.read_text(encoding="utf-8")


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it: set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_file_beside(path: Path) -> Path:
    """An empty temporary file in ``path``'s folder, to be renamed over ``path``.

    Its mode is what any new file of the user gets (``0o666`` less the umask), not
    ``tempfile``'s private ``0o600``: scored files and reports are for others to read.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def temp_dir_beside(folder: Path, *, prefix: str) -> Path:
    """A new temporary folder inside ``folder`` with the mode of any new folder of the user
    (``0o777`` less the umask), to be renamed into place when complete."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same directory, then rename over ``path``.

    An interrupted run leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file_beside(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` atomically as CSV or Parquet, chosen by the extension of ``path``."""
    path = Path(path)
    fmt = table_format(path)
    if fmt == "csv":
        return _atomic_write(path, lambda p: df.to_csv(p, index=False))
    return _atomic_write(path, lambda p: df.to_parquet(p, index=False))


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` atomically (UTF-8)."""
    return _atomic_write(Path(path), lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write ``data`` atomically."""
    return _atomic_write(Path(path), lambda p: p.write_bytes(data))


def find_table(directory: str | Path, name: str) -> Path:
    """The file ``<name>`` with one of :data:`TABLE_SUFFIXES` in ``directory``.

    Raises
    ------
    MqlmlError
        When none exists or several do (ambiguous).
    """
    directory = Path(directory)
    found = [
        directory / f"{name}{s}" for s in TABLE_SUFFIXES if (directory / f"{name}{s}").is_file()
    ]
    if not found:
        raise MqlmlError(
            f"{directory}: no {name} table found (expected "
            + ", ".join(f"{name}{s}" for s in TABLE_SUFFIXES[:-1])
            + f" or {name}{TABLE_SUFFIXES[-1]})"
        )
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        both = "both " if len(found) == 2 else ""
        raise MqlmlError(f"{directory}: {both}{names} exist; keep one")
    return found[0]


def write_all(items: Sequence[tuple[str | Path, pd.DataFrame | str]]) -> list[Path]:
    """Write several files so that none of them appears until all are complete.

    Each item is ``(path, content)``: a DataFrame (CSV or Parquet by extension) or text
    (UTF-8). Every file is written to a temporary file beside its target; only when all
    are written are they renamed into place, in the order given (put the file whose
    presence means "done" last). An error or interrupt while writing leaves no new file
    and no temporary one.
    """
    pending: list[tuple[Path, Path]] = []
    try:
        for path, content in items:
            path = Path(path)
            if isinstance(content, pd.DataFrame):
                fmt = table_format(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_file_beside(path)
            pending.append((tmp, path))
            if isinstance(content, str):
                tmp.write_text(content, encoding="utf-8")
            elif fmt == "csv":
                content.to_csv(tmp, index=False)
            else:
                content.to_parquet(tmp, index=False)
        for tmp, path in pending:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    return [path for _, path in pending]
