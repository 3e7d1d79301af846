"""The I/O edge: reading and writing tables and files. No other module touches the disk
except ``tracking`` (through MLflow) and ``bundle`` (through these helpers)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from mqlml.errors import MqlmlError

TABLE_SUFFIXES = (".csv", ".parquet")


def table_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file extension; raises for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise MqlmlError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; expected .csv or .parquet"
    )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table, chosen by extension.

    CSV columns are read as text so that identifiers such as ``00123`` keep their
    leading zeros; typing happens in :mod:`mqlml.data`, where errors can name rows.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise MqlmlError(f"{path}: file not found")
    try:
        if fmt == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise MqlmlError(f"{path}: the file is empty (expected a header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise MqlmlError(f"{path}: could not be read as {fmt}: {exc}") from None


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same directory, then rename over ``path``.

    An interrupted run leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
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
    """The file ``<name>.csv`` or ``<name>.parquet`` in ``directory``.

    Raises
    ------
    MqlmlError
        When neither exists or both do (ambiguous).
    """
    directory = Path(directory)
    found = [
        directory / f"{name}{s}" for s in TABLE_SUFFIXES if (directory / f"{name}{s}").is_file()
    ]
    if not found:
        raise MqlmlError(
            f"{directory}: no {name} table found (expected {name}.csv or {name}.parquet)"
        )
    if len(found) > 1:
        raise MqlmlError(f"{directory}: both {found[0].name} and {found[1].name} exist; keep one")
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
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
            )
            os.close(fd)
            tmp = Path(tmp_name)
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
