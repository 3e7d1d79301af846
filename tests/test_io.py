import pandas as pd
import pytest

from mqlml.errors import MqlmlError
from mqlml.io import find_table, read_table, write_table, write_text


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
        ("t.xlsx", "", "unsupported file type '.xlsx'"),
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
