import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlml.data.files import find_table, read_table, write_table, write_text
from mqlml.errors import MqlmlError


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip(tmp_path, suffix):
    df = pd.DataFrame({"lead_id": ["007", "8"], "x": [1.5, None]})
    path = write_table(df, tmp_path / f"t{suffix}")
    back = read_table(path)
    assert back["lead_id"].tolist() == ["007", "8"]  # leading zeros survive CSV


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "out.csv"
    write_text("old", target)

    class Boom(pd.DataFrame):
        def to_csv(self, *a, **k):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_table(Boom({"a": [1]}), target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.xls", "", "unsupported file type '.xls'"),
        ("missing.csv", None, "file not found"),
        ("empty.csv", "", "the file is empty"),
    ],
)
def test_read_errors_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(MqlmlError, match=message) as err:
        read_table(path)
    assert name in str(err.value)


def test_find_table(tmp_path):
    with pytest.raises(MqlmlError, match="no leads table found"):
        find_table(tmp_path, "leads")
    (tmp_path / "leads.csv").write_text("lead_id\n1\n")
    assert find_table(tmp_path, "leads").name == "leads.csv"
    (tmp_path / "leads.parquet").write_text("")
    with pytest.raises(MqlmlError, match="keep one"):
        find_table(tmp_path, "leads")


# --- exports: separators, quotes, CRLF, BOM, Excel, dates ----------------------------------

from mqlml.data.files import sniff_separator  # noqa: E402

_EXPORT_ROWS = [["Lead ID", "Company", "Created"], ["007", "Acme; Inc, Ltd", "2024-03-05"]]


def _csv_bytes(sep: str, bom: bool, newline: str) -> bytes:
    lines = [sep.join(f'"{v}"' for v in row) for row in _EXPORT_ROWS]
    text = newline.join(lines) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_read_table_csv_dialects(tmp_path, sep, bom, newline):
    path = tmp_path / "export.csv"
    path.write_bytes(_csv_bytes(sep, bom, newline))
    assert sniff_separator(path) == sep
    df = read_table(path)
    assert list(df.columns) == ["Lead ID", "Company", "Created"]  # no BOM in the first name
    assert df.iloc[0].tolist() == ["007", "Acme; Inc, Ltd", "2024-03-05"]


def test_read_table_xlsx(tmp_path):
    path = tmp_path / "export.xlsx"
    pd.DataFrame({"Lead ID": ["007", "8"], "Employees": [12, None]}).to_excel(path, index=False)
    df = read_table(path)
    assert df["Lead ID"].tolist() == ["007", "8"]
    assert df["Employees"].iloc[0] == "12"
    assert pd.isna(df["Employees"].iloc[1])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.xls", b"x", "expected .csv, .tsv, .xlsx or .parquet"),
        ("latin.csv", "Name\nJos\xe9\n".encode("latin-1"), "not UTF-8 text"),
        ("missing.csv", None, "file not found"),
        ("empty.csv", b"", "the file is empty"),
    ],
)
def test_read_table_errors_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MqlmlError, match=message) as err:
        read_table(path)
    assert name in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", "2024-03-05T00:00:00Z"),
        ("2024-03-05 10:00", "2024-03-05T10:00:00Z"),
        ("2024-03-05T10:00:00+02:00", "2024-03-05T08:00:00Z"),
        ("2024-03-05T10:00:00Z", "2024-03-05T10:00:00Z"),
        ("03/05/2024 10:00 AM", "2024-03-05T10:00:00Z"),
    ],
)
def test_export_dates_are_normalised_to_utc(text, expected):
    from mqlml.data.validate import to_utc

    got = to_utc(pd.Series([text], dtype="str")).iloc[0]
    assert got == pd.Timestamp(expected)


def test_read_table_utf16_tab_export(tmp_path):
    """Excel's "Unicode text": UTF-16 with a BOM, tab-separated."""
    path = tmp_path / "export.tsv"
    path.write_bytes("Lead ID\tCompany\n007\tCafé\n".encode("utf-16"))
    df = read_table(path)
    assert list(df.columns) == ["Lead ID", "Company"]
    assert df.iloc[0].tolist() == ["007", "Café"]


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    import os

    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "report.html"])
def test_written_files_get_the_users_mode_not_a_private_one(tmp_path, umask, mask, mode, name):
    from mqlml.data.files import write_all

    umask(mask)
    frame = pd.DataFrame({"a": [1]})
    content = "<p>x</p>" if name.endswith(".html") else frame
    one = (write_text(content, tmp_path / name) if isinstance(content, str)
           else write_table(content, tmp_path / name))
    assert one.stat().st_mode & 0o777 == mode
    (both,) = write_all([(tmp_path / "again" / name, content)])
    assert both.stat().st_mode & 0o777 == mode
    assert not list(tmp_path.rglob("*.tmp"))


# --- crash-clean staging, spreadsheet-safe CSV (issue 17 items 4, 5) ----------------------


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_staging_folders_of_dead_runs_are_removed_by_the_next_write(tmp_path):
    import os
    import time

    from mqlml.data.files import STAGING_PREFIX, _owner_tag

    host = _owner_tag().split("-", 1)[0]
    dead = tmp_path / f"{STAGING_PREFIX}{host}-{_dead_pid()}-abc"
    live = tmp_path / f"{STAGING_PREFIX}{host}-{os.getppid()}-abc"
    elsewhere = tmp_path / f"{STAGING_PREFIX}otherhost-1-abc"
    gone = tmp_path / f"{STAGING_PREFIX}otherhost-2-abc"
    for folder in (dead, live, elsewhere, gone):
        folder.mkdir()
        (folder / "scored.csv").write_text("half a file")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(gone, (day_ago, day_ago))
    write_text("x", tmp_path / "out.txt")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([live.name, elsewhere.name, "out.txt"])


def test_a_folder_that_cannot_be_written_is_an_error_naming_it(tmp_path):
    from mqlml.data.files import check_writable

    (tmp_path / "file").write_text("")
    with pytest.raises(MqlmlError, match="file: not a folder"):
        check_writable(tmp_path / "file" / "out.csv")
    with pytest.raises(MqlmlError, match="is a folder"):
        check_writable(tmp_path)
    check_writable(tmp_path / "new" / "out.csv")
    assert [p.name for p in (tmp_path / "new").iterdir()] == []  # checked, nothing left


def test_neutralise_formulas_quotes_text_cells_and_headers_never_numbers():
    from mqlml.data.files import neutralise_formulas

    df = pd.DataFrame(
        {
            "=SUM(1+2)": ["=1+1", "+1", "-1", "@a", "\tx", "\rx", "a=b", None],
            "n": [-1.5, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "i": [-1, -2, 3, 4, 5, 6, 7, 8],
            "mixed": pd.Series([-3, "-x", None, "ok", 1, 2, 3, 4], dtype=object),
        }
    )
    out = neutralise_formulas(df)
    assert list(out.columns) == ["'=SUM(1+2)", "n", "i", "mixed"]
    assert out.iloc[:, 0].tolist()[:7] == ["'=1+1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "a=b"]
    assert pd.isna(out.iloc[7, 0])
    assert out["n"].tolist() == df["n"].tolist() and out["i"].dtype == df["i"].dtype
    assert out["mixed"].tolist()[:2] == [-3, "'-x"]
    assert df.columns[0] == "=SUM(1+2)"  # the input is not changed
    clean = pd.DataFrame({"a": ["x", "y"], "b": [-1, 2]})
    assert neutralise_formulas(clean) is clean


def test_write_table_guards_csv_by_default_and_leaves_parquet_alone(tmp_path):
    df = pd.DataFrame({"lead_id": ["=cmd|' /C calc'!A0", "L1"], "score": [-5, 10]})
    text = write_table(df, tmp_path / "a.csv").read_text()
    assert "'=cmd" in text and "\n-5," not in text and ",-5" in text
    assert "'=" not in write_table(df, tmp_path / "b.csv", safe_csv=False).read_text()
    assert read_table(write_table(df, tmp_path / "c.parquet"))["lead_id"][0] == df["lead_id"][0]


def test_file_lock_makes_a_second_holder_wait(tmp_path):
    import threading
    import time

    from mqlml.data.files import file_lock

    order = []

    def second():
        with file_lock(tmp_path / "x.lock"):
            order.append("second")

    with file_lock(tmp_path / "x.lock"):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join()
    assert order == ["first done", "second"]



@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(max_size=8).filter(lambda t: not t.startswith("'")), min_size=1,
                max_size=20))
def test_restore_formulas_undoes_the_guard(ids):
    # Monitor reads scored files back: '-123 in a spreadsheet-safe CSV is the lead -123.
    from mqlml.data.files import neutralise_formulas, restore_formulas

    guarded = neutralise_formulas(pd.DataFrame({"lead_id": ids}))["lead_id"]
    assert restore_formulas(guarded).tolist() == ids


@pytest.mark.parametrize("text", ["n/a", "N/A", "NA", "NULL", "nan", "None"])
def test_text_that_pandas_would_call_missing_reads_as_text_in_every_format(tmp_path, text):
    """One reader: only an empty cell is missing, in an Excel sheet as in CSV."""
    frame = pd.DataFrame({"lead_id": ["1", "2"], "email": [text, ""]})
    frame.to_csv(tmp_path / "leads.csv", index=False)
    frame.to_excel(tmp_path / "leads.xlsx", index=False)
    for name in ("leads.csv", "leads.xlsx"):
        df = read_table(tmp_path / name)
        assert df["email"].iloc[0] == text, name
        assert pd.isna(df["email"].iloc[1]), name
