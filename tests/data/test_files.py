import pandas as pd
import pytest

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
