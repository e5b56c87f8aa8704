"""The per-file reader (sources.reader) chunk by chunk: ingesting in small chunks gives exactly
the store the one-shot path gives."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from fleetanalysis import sources, store
from fleetanalysis.cli import main
from fleetanalysis.errors import BadInput

CHROME = ('"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
          'Chrome/{v}.0.0.0 Safari/537.36"')
IPHONE = ('"Mozilla/5.0 (iPhone; CPU iPhone OS {v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
          'Version/17.4 Mobile/15E148 Safari/604.1"')


def csv_log(rows: int = 400) -> str:
    """A generic per-event CSV with repeats, a quoted newline, malformed and rejected rows."""
    lines = ["\ufefftime,user,ip,user_agent"]
    for number in range(rows):
        agent = (CHROME if number % 3 else IPHONE).format(v=120 + number % 7 if number % 3 else f"17_{number % 5}")
        lines.append(f"2024-05-{1 + number % 28:02d}T{number % 24:02d}:00:00Z,user{number % 23}@example.com,"
                     f"192.0.2.{number % 5},{agent}")
        if number % 97 == 0:
            lines.append("2024-05-02T10:00:00Z,too,many,fields,here")
        if number % 89 == 0:
            lines.append(f"not a date,user{number}@example.com,192.0.2.9,{CHROME.format(v=124)}")
        if number % 151 == 0:
            lines.append(f'2024-05-03T10:00:00Z,"multi\nline@example.com",192.0.2.8,{CHROME.format(v=125)}')
    return "\n".join(lines) + "\n"


def okta_log(rows: int = 300) -> str:
    lines = []
    for number in range(rows):
        lines.append(json.dumps({
            "uuid": f"e{number % 250}", "published": f"2024-05-{1 + number % 28:02d}T10:00:00Z",
            "eventType": "user.session.start",
            "actor": {"id": f"00u{number % 17}", "alternateId": f"u{number % 17}@x.org"},
            "client": {"ipAddress": "198.51.100.1",
                       "userAgent": {"rawUserAgent": json.loads(CHROME.format(v=118 + number % 9))}}}))
        if number % 53 == 0:
            lines.append('{"uuid": "broken"')
        if number % 71 == 0:
            lines.append("[1, 2]")
    return "\n".join(lines) + "\n"


def rejected_rows(store_path) -> pd.DataFrame:
    frame = pd.read_csv(store.rejected_path(store_path), dtype="str", keep_default_na=False)
    return frame.sort_values(list(frame.columns), ignore_index=True)


def assert_same_as_one_shot(tmp_path, files, chunk_bytes, **options):
    one_shot, chunked = tmp_path / "one.parquet", tmp_path / "chunked.parquet"
    expected = store.merge(one_shot, sources.load(files, **options))
    counts, problems = store.ingest(chunked, files, chunk_bytes=chunk_bytes, **options)
    assert problems == []
    pd.testing.assert_frame_equal(store.read(chunked), store.read(one_shot))
    assert not counts["unchanged"].any()
    pd.testing.assert_frame_equal(counts[store.MERGE_COLUMNS], expected)
    pd.testing.assert_frame_equal(rejected_rows(chunked), rejected_rows(one_shot))
    return counts


def test_csv_in_small_chunks_equals_one_shot(tmp_path):
    log = tmp_path / "events.csv"
    log.write_text(csv_log())
    pieces = list(sources.chunks(log, chunk_bytes=2048))
    assert len(pieces) > 10
    counts = assert_same_as_one_shot(tmp_path, [log], chunk_bytes=2048)
    read, loaded, rejected, duplicates = counts[["read", "loaded", "rejected", "duplicates"]].iloc[0].tolist()
    # 400 events and 3 quoted-newline rows; 5 malformed rows and 5 without a date rejected.
    assert (read, rejected) == (413, 10)
    assert loaded > 0 and duplicates > 0 and read == loaded + rejected + duplicates


def test_ndjson_and_gzip_csv_in_small_chunks_equal_one_shot(tmp_path):
    (tmp_path / "okta.ndjson").write_text(okta_log())
    (tmp_path / "events.csv.gz").write_bytes(gzip.compress(csv_log(300).encode("utf-8")))
    assert_same_as_one_shot(tmp_path, [tmp_path / "okta.ndjson", tmp_path / "events.csv.gz"], chunk_bytes=1500)


def test_each_chunk_is_bounded(tmp_path):
    log = tmp_path / "okta.ndjson"
    log.write_text(okta_log(600))
    sizes = [len(access) + len(rejected) for access, rejected, _ in sources.chunks(log, chunk_bytes=4096)]
    # 600 events, 12 broken lines, 9 lines holding a list of two non-objects.
    assert sum(sizes) == 600 + 12 + 9 * 2
    # About 4 KiB of lines each (events are about 330 bytes): never the whole file.
    assert len(sizes) >= 40 and max(sizes) <= 20


def test_a_row_longer_than_a_chunk_falls_back_to_reading_whole(tmp_path):
    log = tmp_path / "events.csv"
    text = csv_log(200)
    long_row = f'2024-05-04T10:00:00Z,long@example.com,192.0.2.7,"{"x" * 5000}"\n'
    log.write_text(text + long_row + text.split("\n", 1)[1])
    assert_same_as_one_shot(tmp_path, [log], chunk_bytes=1024)


def test_bytes_not_utf8_midway_report_the_file_and_add_nothing(tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(csv_log(50))
    bad.write_bytes(csv_log(200).encode("utf-8") + "2024-05-01T10:00:00Z,Jos\xe9,192.0.2.1,curl/8\n".encode("latin-1"))
    target = tmp_path / "access.parquet"
    counts, problems = store.ingest(target, [good, bad], chunk_bytes=1024)
    assert counts["file"].tolist() == [str(good)]
    with pytest.raises(BadInput) as one_shot:
        sources.load_file(bad)
    assert problems == [str(one_shot.value)]
    pd.testing.assert_frame_equal(store.read(target), store.read(_one_shot(tmp_path, [good])))


def _one_shot(tmp_path, files):
    target = tmp_path / "expected.parquet"
    store.merge(target, sources.load(files))
    return target


def test_reingest_in_chunks_adds_nothing_and_no_files_is_bad_input(tmp_path):
    log = tmp_path / "events.csv"
    log.write_text(csv_log(100))
    target = tmp_path / "access.parquet"
    first, _ = store.ingest(target, [log], chunk_bytes=1024)
    again, _ = store.ingest(target, [log], chunk_bytes=1024, rescan=True)  # unchanged: read only on demand
    assert again["loaded"].tolist() == [0]
    assert again["duplicates"].tolist() == [first["loaded"].iloc[0] + first["duplicates"].iloc[0]]
    with pytest.raises(BadInput, match="no such file"):
        store.ingest(target, [tmp_path / "missing.csv"])


def test_cli_ingest_streams_and_prints_counts(tmp_path, capsys):
    log = tmp_path / "events.csv"
    log.write_text(csv_log(100))
    assert main(["ingest", str(log), "--store", str(tmp_path / "access.parquet")]) == 0
    out = capsys.readouterr().out
    assert f"{log}: csv: read " in out
    assert len(store.read(tmp_path / "access.parquet")) > 0
