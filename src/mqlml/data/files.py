"""The I/O edge: reading and writing tables and files. No other module touches the disk
except ``tracking`` (through MLflow) and ``bundle`` (through these helpers).

:func:`read_table` is the one reader of every input table, for training and for scoring:
CSV or TSV (separator sniffed, UTF-8 with or without BOM, UTF-16 with BOM), Excel
``.xlsx`` and Parquet.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from mqlml.errors import MqlmlError

try:  # POSIX; absent on Windows, where locks are skipped
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

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
            # Only empty cells are missing, as in CSV: "n/a" or "NULL" typed into a cell is
            # text a column may give meaning to (an invalid e-mail), not a gap.
            frame = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl",
                                  keep_default_na=False, na_values=[""])
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


#: Name prefix of the private folder each run stages its files in, beside their targets.
STAGING_PREFIX = ".mqlml-staging-"
#: Name prefix of the folder a bundle is written in before it is renamed to its version.
INCOMING_PREFIX = ".incoming-"
#: Age after which a staging folder made on another host counts as abandoned.
STALE_SECONDS = 24 * 3600
#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Set in the environment (tests of crashes): print this marker and wait before renaming.
PAUSE_ENV = "MQLML_PAUSE_BEFORE_RENAME"


def _owner_tag() -> str:
    """``<host>-<pid>-``: who made a staging folder, so a later run can tell a dead one."""
    host = re.sub(r"[^A-Za-z0-9]+", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale(folder: Path, prefix: str) -> list[Path]:
    """Remove the staging folders ``<prefix><host>-<pid>-*`` in ``folder`` left by runs that
    died (killed, power cut) before they could clean up; return what was removed.

    A folder is abandoned when its process no longer runs on this host, or, when made on
    another host (a shared drive), when it is older than :data:`STALE_SECONDS`. Folders of
    live runs are never touched.
    """
    removed = []
    host = _owner_tag().split("-", 1)[0]
    try:
        entries = list(Path(folder).glob(f"{prefix}*"))
    except OSError:
        return removed
    for entry in entries:
        match = re.fullmatch(rf"{re.escape(prefix)}(.+)-(\d+)-[^-]*", entry.name)
        if not entry.is_dir() or entry.is_symlink():
            continue
        if match and match.group(1) == host:
            stale = not _alive(int(match.group(2)))
        else:
            try:
                stale = time.time() - entry.stat().st_mtime > STALE_SECONDS
            except OSError:
                continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def temp_dir_beside(folder: Path, *, prefix: str) -> Path:
    """A new temporary folder inside ``folder`` with the mode of any new folder of the user
    (``0o777`` less the umask), to be renamed into place when complete.

    Its name carries this host and process id; abandoned folders of the same prefix left
    by dead runs are removed first (:func:`clean_stale`).
    """
    folder = Path(folder)
    clean_stale(folder, prefix)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{_owner_tag()}", dir=folder))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


class Staging:
    """One private folder per run beside the files it will write (same file system, so a
    rename is atomic), removed when the run ends; a dead run's is removed by the next.

    Entering it creates the target folder and the staging folder: a folder that cannot
    be written fails there, before any work. Files created inside get the user's mode
    (``0o666`` less the umask), not a private one.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path: Path | None = None

    def __enter__(self) -> Staging:
        if self.folder.exists() and not self.folder.is_dir():
            raise MqlmlError(f"{self.folder}: not a folder, cannot write output files into it")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = temp_dir_beside(self.folder, prefix=STAGING_PREFIX)
        except OSError as exc:
            raise MqlmlError(
                f"{self.folder}: cannot write output files there ({exc.strerror or exc})"
            ) from None
        return self

    def file(self, target: Path) -> Path:
        """A path in the staging folder for the future ``target``."""
        assert self.path is not None
        return self.path / Path(target).name

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if absent) for the block.

    Other processes (and threads) taking the same lock wait. An advisory ``flock``: it
    binds mqlml processes on this host (or sharing a local drive); where the platform has
    no ``fcntl`` (Windows) the block runs unlocked.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def check_writable(path: str | Path) -> None:
    """Fail now, not after the work, when the file ``path`` could not be written.

    Raises
    ------
    MqlmlError
        When ``path`` is a folder, or its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise MqlmlError(f"{path}: is a folder; expected a file name")
    with Staging(path.parent):
        pass


def _pause_before_rename() -> None:
    """Crash tests only: say so on stderr and wait, so a test can kill the run here."""
    if os.environ.get(PAUSE_ENV):
        import sys

        print(f"{PAUSE_ENV} {os.getpid()}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ[PAUSE_ENV]))


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a private staging folder beside ``path``, then rename over ``path``.

    An interrupted run leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    with Staging(path.parent) as stage:
        tmp = stage.file(path)
        write(tmp)
        os.replace(tmp, path)
    return path


def restore_formulas(values: pd.Series) -> pd.Series:
    """Text cells as they were before :func:`neutralise_formulas`: the leading ``'`` it
    added (before one of :data:`FORMULA_STARTS`) taken off, for a program that reads a
    spreadsheet-safe CSV back (a lead id ``-123`` is written ``'-123``)."""
    text = values.astype("str")
    guarded = text.str.startswith(tuple("'" + c for c in FORMULA_STARTS), na=False)
    return text.where(~guarded, text.str.slice(1))


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell and column name a spreadsheet would run as a formula
    prefixed with a single quote (OWASP's advice against CSV injection).

    A cell is neutralised when it starts with one of :data:`FORMULA_STARTS`. Only text is
    touched: numeric, boolean and date columns keep their values, so a negative number
    stays a number; a text cell ``-5`` becomes ``'-5``.
    """
    def risky(value) -> bool:
        return isinstance(value, str) and value.startswith(FORMULA_STARTS)

    def guard(value):
        return "'" + value if risky(value) else value

    columns = {}
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        try:
            hit = col.str.startswith(FORMULA_STARTS, na=False).to_numpy(dtype=bool)
        except AttributeError:  # not text at all (e.g. a column of lists)
            continue
        if hit.any():
            col = col.copy()
            col[hit] = "'" + col[hit].astype(str)
            columns[i] = col
    if not columns and not any(risky(c) for c in df.columns):
        return df  # nothing to do: no copy
    out = df.rename(columns=guard)
    for i, col in columns.items():
        out.isetitem(i, col)
    return out


def _write_frame(df: pd.DataFrame, path: Path, fmt: str, safe_csv: bool) -> None:
    if fmt == "csv":
        (neutralise_formulas(df) if safe_csv else df).to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


def write_table(df: pd.DataFrame, path: str | Path, *, safe_csv: bool = True) -> Path:
    """Write ``df`` atomically as CSV or Parquet, chosen by the extension of ``path``.

    With ``safe_csv`` (the default), CSV text cells a spreadsheet would run as a formula
    are neutralised (:func:`neutralise_formulas`); Parquet is written as it is.
    """
    path = Path(path)
    fmt = table_format(path)
    return _atomic_write(path, lambda p: _write_frame(df, p, fmt, safe_csv))


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


def stage_files(
    items: Sequence[tuple[str | Path, pd.DataFrame | str]], stage: Staging, *,
    safe_csv: bool = True,
) -> list[tuple[Path, Path]]:
    """Write each ``(path, content)`` into the open staging folder; return the pairs
    ``(staged file, target)`` for :func:`publish`.

    ``content`` is a DataFrame (CSV or Parquet by the target's extension; CSV cells
    neutralised with ``safe_csv``, see :func:`neutralise_formulas`) or text (UTF-8).
    """
    pending = []
    for path, content in items:
        path = Path(path)
        tmp = stage.file(path)
        if isinstance(content, pd.DataFrame):
            _write_frame(content, tmp, table_format(path), safe_csv)
        else:
            tmp.write_text(str(content), encoding="utf-8")
        pending.append((tmp, path))
    return pending


def publish(pending: Sequence[tuple[Path, Path]]) -> list[Path]:
    """Rename staged files into place in the order given, the last one marking "done".

    The last target's old file is removed before any rename, so a crash between renames
    leaves no "done" file beside new ones, never an old one.
    """
    if not pending:
        return []
    _pause_before_rename()
    pending[-1][1].unlink(missing_ok=True)
    for tmp, path in pending:
        os.replace(tmp, path)
    return [path for _, path in pending]


def write_all(
    items: Sequence[tuple[str | Path, pd.DataFrame | str]], *, safe_csv: bool = True
) -> list[Path]:
    """Write several files of one folder so that none of them appears until all are
    complete.

    Each item is ``(path, content)``: a DataFrame (CSV or Parquet by extension) or text
    (UTF-8). Every file is written into a private staging folder beside its target
    (:class:`Staging`); only when all are written are they renamed into place, in the
    order given (put the file whose presence means "done" last; see :func:`publish`).
    An error or interrupt while writing leaves no new file and no temporary one.
    """
    paths = [Path(path) for path, _ in items]
    folders = {p.parent.resolve() for p in paths}
    if len(folders) > 1:
        raise MqlmlError(f"write_all writes into one folder, got {sorted(map(str, folders))}")
    if not paths:
        return []
    with Staging(paths[0].parent) as stage:
        return publish(stage_files(items, stage, safe_csv=safe_csv))
