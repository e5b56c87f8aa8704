"""sources.load reads a CSV file bigger than a chunk in one threaded read: same rows as one piece."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pyarrow
import pytest

from fleetanalysis import sources
from fleetanalysis.errors import BadInput
from fleetanalysis.sources import csv as generic_csv
from fleetanalysis.sources import schema

CHROME = ('"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
          'Chrome/{v}.0.0.0 Safari/537.36"')


def hostile_csv(rows: int = 3000) -> tuple[str, list[str]]:
    """A per-event CSV with a BOM, quoted newlines, unix and naive times, bad dates, rows
    without an agent and distinct malformed rows; returns the text and the malformed lines."""
    lines, malformed = ["\ufefftime,user,ip,user_agent"], []
    for number in range(rows):
        agent = CHROME.format(v=100 + number % 29)
        time = f"2024-{1 + number % 12:02d}-{1 + number % 28:02d}T{number % 24:02d}:00:00.{number % 1000:03d}Z"
        if number % 500 == 7:
            time = str(1714521600 + number)
        if number % 700 == 11:
            time = f"2024-05-01 10:00:{number % 60:02d}"
        lines.append(f"{time},user{number % 41}@example.com,192.0.2.{number % 9},{agent}")
        if number % 211 == 0:
            malformed.append(f"2024-05-02T10:00:00Z,too,many,fields,{number}")
            lines.append(malformed[-1])
        if number % 173 == 0:
            lines.append(f"not a date,late{number}@example.com,192.0.2.9,{agent}")
        if number % 157 == 0:
            lines.append(f'2024-05-03T10:00:00Z,"multi\nline{number}@example.com",192.0.2.8,{agent}')
        if number % 131 == 0:
            lines.append(f"2024-05-04T10:00:00Z,empty{number}@example.com,192.0.2.7,")
    return "\n".join(lines) + "\n", malformed


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4 KiB and blocks of 8 KiB, so that a small file takes the big-file path
    and its read is split over many blocks (and threads)."""
    monkeypatch.setattr(sources.reader, "DEFAULT_CHUNK_BYTES", 4096)
    monkeypatch.setattr(sources.reader, "_WHOLE_BLOCK_BYTES", 8192)


def _never(*args, **kwargs):
    raise AssertionError("a big CSV file must be read whole, not in chunks or through load_file")


def test_a_big_csv_read_whole_holds_the_rows_labels_and_reasons_of_one_piece(tmp_path, monkeypatch, small_chunks):
    log = tmp_path / "events.csv"
    text, malformed = hostile_csv()
    log.write_text(text, encoding="utf-8")
    expected_access, expected_rejected, _ = sources.load_file(log)
    assert sources.streamable(log, sources.reader.DEFAULT_CHUNK_BYTES) == "csv"
    monkeypatch.setattr(sources.reader, "load_file", _never)
    monkeypatch.setattr(sources.reader, "chunks", _never)

    result = sources.load([log])

    pd.testing.assert_frame_equal(result.access, expected_access)
    pd.testing.assert_frame_equal(result.rejected, expected_rejected.astype("str"))
    assert result.counts[["read", "loaded", "rejected"]].iloc[0].tolist() == [
        len(expected_access) + len(expected_rejected), len(expected_access), len(expected_rejected)]
    # Threads meet malformed rows in any order; their numbers follow the file all the same.
    found = result.rejected[result.rejected["record"].str.startswith("malformed row")]
    assert found["record"].tolist() == [f"malformed row {n}" for n in range(1, len(malformed) + 1)]
    assert found["raw"].tolist() == malformed
    reasons = result.rejected.groupby("reason").size().to_dict()
    assert reasons == {"expected 4 fields, found 5": 15, "no user agent": 23,
                       "first seen 'not a date' in column 'time' is not a date (expected ISO 8601 such as "
                       "2024-05-01T10:00:00Z, or unix seconds or milliseconds)": 18}
    # Unix and naive times are read as the general path reads them.
    assert result.access["user"].str.startswith("multi").sum() == 20
    assert (result.access["first_seen"] == pd.Timestamp(1714521600 + 7, unit="s", tz="UTC")).sum() == 1


def test_a_big_gzip_csv_gives_the_rows_of_the_plain_file(tmp_path, small_chunks):
    text, _ = hostile_csv(2000)
    plain, packed = tmp_path / "events.csv", tmp_path / "events.csv.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    assert sources.streamable(packed, sources.reader.DEFAULT_CHUNK_BYTES) == "csv"
    from_plain, from_packed = sources.load([plain]), sources.load([packed])
    pd.testing.assert_frame_equal(from_packed.access, from_plain.access)
    assert from_packed.rejected["record"].tolist() == from_plain.rejected["record"].tolist()
    assert from_packed.counts["loaded"].tolist() == from_plain.counts["loaded"].tolist()


def test_a_big_csv_with_bytes_not_utf8_is_reported_as_load_file_reports_it(tmp_path, small_chunks):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    text, _ = hostile_csv(500)
    good.write_text(text, encoding="utf-8")
    bad.write_bytes(text.encode("utf-8") + "2024-05-01T10:00:00Z,Jos\xe9,192.0.2.1,curl/8\n".encode("latin-1"))
    with pytest.raises(BadInput) as one_piece:
        sources.load_file(bad)
    result = sources.load([good, bad])
    assert result.problems == [str(one_piece.value)]
    assert result.counts["file"].tolist() == [str(good)]


ISO = ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00.123456Z", "2024-05-01T10Z",
       "2024-05-01T10:00:00-0130", "2024-05-01T10:00:00.1+05", None]
NAIVE = ["2024-05-01 10:00:00", "2024-05-01", "2024-05-01T10:00", "2024-05-01T23:59:59.999999", None]


def _blocks(*blocks: list) -> pd.Series:
    return pd.Series(pd.array(pyarrow.chunked_array([pyarrow.array(block, pyarrow.large_string()) for block in blocks]),
                              dtype="str"))


@pytest.mark.parametrize("values", [ISO, NAIVE])
def test_iso_times_read_by_arrow_are_the_times_pandas_reads(values):
    expected = pd.to_datetime(pd.Series(values, dtype="str"), utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    pd.testing.assert_series_equal(generic_csv.parse_times(_blocks(values)), expected, check_names=False)


def test_a_block_arrow_cannot_read_alone_takes_the_general_path():
    odd = ["1714521600", "2024-05-01T10:00:00Z", "2024-05-01 10:00:00", "2024-05-01T10:00:00.123456789Z",
           "01/05/2024", " 2024-05-01T10:00:00Z", "2024-02-30T00:00:00Z", "2024"]
    times = generic_csv.parse_times(_blocks(ISO, odd, NAIVE))
    assert times.index.tolist() == list(range(len(ISO) + len(odd) + len(NAIVE)))
    middle = times.iloc[len(ISO):len(ISO) + len(odd)].tolist()
    # Unix seconds, mixed offsets and naive text, nanoseconds (cut to microseconds), the
    # ambiguous day/month order and impossible dates unknown, "2024" a unix time.
    assert middle == [pd.Timestamp(text, tz="UTC") if text else pd.NaT for text in [
        "2024-05-01 00:00:00", "2024-05-01 10:00:00", "2024-05-01 10:00:00", "2024-05-01 10:00:00.123456",
        None, "2024-05-01 10:00:00", None, "1970-01-01 00:33:44"]]
    assert times.iloc[:len(ISO)].equals(generic_csv.parse_times(_blocks(ISO)).set_axis(range(len(ISO))))


def test_text_columns_a_source_lacks_cost_one_block_however_many_rows():
    rows = 4 * 2**20 + 3
    before = pyarrow.total_allocated_bytes()
    table = schema.conform(pd.DataFrame({"count": np.ones(rows, dtype="int64")}))
    grown = pyarrow.total_allocated_bytes() - before
    assert len(table) == rows and table["device_model"].isna().all() and str(table["device_model"].dtype) == "str"
    # Six empty text columns: a row-sized offsets buffer each would be 6 x 32 MiB.
    assert grown < 64 * 2**20


def test_a_big_gzip_csv_cut_short_is_a_problem_line_not_a_crash(tmp_path, small_chunks):
    good, cut = tmp_path / "good.csv", tmp_path / "cut.csv.gz"
    text, _ = hostile_csv(2000)
    good.write_text(text, encoding="utf-8")
    packed = gzip.compress(text.encode("utf-8"))
    cut.write_bytes(packed[:len(packed) * 3 // 4])
    assert sources.streamable(cut, sources.reader.DEFAULT_CHUNK_BYTES) == "csv"
    result = sources.load([cut, good])
    assert result.problems == [f"{cut}: truncated or corrupt gzip (Compressed file ended before the "
                               "end-of-stream marker was reached)"]
    assert result.counts["file"].tolist() == [str(good)]
    # Read in chunks (store.ingest), the file fails midway: the caller reads it whole.
    with pytest.raises(sources.NotStreamable):
        list(sources.chunks(cut, chunk_bytes=4096))
