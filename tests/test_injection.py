"""Script and formula injection: attacker-shaped names, offices and user agents go through
the real CLI (ingest, devices, status, nudges, ua, catalog show, report) and come out only
escaped (HTML, Slack mrkdwn) or neutralised (CSV cells a spreadsheet would run).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from fleetanalysis import store
from fleetanalysis.cli import main
from fleetanalysis.writing import FORMULA_START, neutralise_formulas

IOS_16 = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/16.1 Mobile/15E148 Safari/604.1")
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
LINK = "javascript:alert(1)"
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]
# People whose names are attacker-shaped; each runs an outdated iOS, so they reach nudges.
NAMES = [SCRIPT, IMG, LINK, "<!channel> <@U0BOSS01> *bold*", "\x1b[31mred\x1b[0m", *FORMULAS]
OFFICES = ["<img src=x onerror=alert(1)>", "<script>alert('office')</script>", '=HYPERLINK("http://evil.example")']
DEPARTMENTS = ["@SUM(1+1)", "-2+3", "<a href=\"javascript:alert(1)\">x</a>"]
# User agents that are hostile as a whole: unknown, and shown with their reason.
AGENTS = [SCRIPT, IMG + " Mozilla/5.0", LINK, "=cmd|' /C calc'!A0", "+Mozilla", "@Mozilla"]


def is_formula(cell: str) -> bool:
    return cell.lstrip(" \u00a0").startswith(FORMULA_START)


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def assert_formula_safe(text: str, *expected: str) -> None:
    """No cell of ``text`` starts like a formula, and each expected value is there, neutralised."""
    cells = csv_cells(text)
    assert cells, text
    assert not [cell for cell in cells if is_formula(cell)]
    for value in expected:
        assert "'" + value in cells, (value, [cell for cell in cells if value[1:5] in cell][:5])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The demo organisation plus hostile people, offices and user agents, ingested."""
    root = tmp_path_factory.mktemp("hostile")
    demo = root / "demo"
    assert main(["demo", "--out", str(demo), "--users", "40", "--weeks", "6", "--seed", "3"]) == 0
    page = json.loads((demo / "slack" / "access_logs_page_001.json").read_text())
    last = max(row["date_last"] for row in page["logins"])
    logins = []
    for number, name in enumerate(NAMES):
        logins.append({"user_id": f"U0HOST{number:04d}", "username": name, "date_first": last - 86400 * 3,
                       "date_last": last - 3600, "count": 4, "ip": f"198.51.100.{number + 1}",
                       "user_agent": f"{IOS_16} {AGENTS[number % len(AGENTS)]}",
                       "isp": None, "country": None, "region": None})
    for number, agent in enumerate(AGENTS):
        logins.append({"user_id": f"U0AGENT{number:03d}", "username": f"agent{number}", "date_first": last - 7200,
                       "date_last": last - 3600, "count": 1, "ip": "198.51.100.200", "user_agent": agent,
                       "isp": None, "country": None, "region": None})
    # Rows rejected at import whose text lands in the rejected-rows CSV.
    logins.append({"user_id": "=1+1", "username": "@SUM(1)", "date_first": 0, "date_last": 60, "count": 1,
                   "ip": "-1", "user_agent": "=cmd|' /C calc'!A0", "isp": None, "country": None, "region": None})
    hostile_page = root / "hostile" / "access_logs_hostile.json"
    hostile_page.parent.mkdir()
    hostile_page.write_text(json.dumps({"ok": True, "logins": logins,
                                        "paging": {"count": 1000, "total": len(logins), "page": 1, "pages": 1}}))
    broken = root / "hostile" / "broken.ndjson"
    broken.write_text(json.dumps(logins[0]) + '\n=HYPERLINK("http://evil.example/ndjson")\n')
    ragged = root / "hostile" / "ragged.csv"
    ragged.write_text("email,timestamp,user_agent\n=cmd|' /C calc'!A0,2024-05-01T00:00:00Z\n")

    directory = pd.read_csv(demo / "directory.csv", dtype="str", keep_default_na=False)
    directory.loc[:9, "office"] = OFFICES[0]
    directory.loc[:9, "department"] = DEPARTMENTS[0]
    extra = pd.DataFrame({"user_id": [f"U0HOST{number:04d}" for number in range(len(NAMES))],
                          "email": [f"host{number}@example.com" for number in range(len(NAMES))],
                          "office": [OFFICES[number % len(OFFICES)] for number in range(len(NAMES))],
                          "department": [DEPARTMENTS[number % len(DEPARTMENTS)] for number in range(len(NAMES))],
                          "ownership": "", "exempt_until": ""})
    hostile_directory = root / "directory.csv"
    # Written raw on purpose: the directory is the attacker's input here, not our export.
    pd.concat([directory, extra], ignore_index=True).to_csv(hostile_directory, index=False)

    access = root / "store" / "access.parquet"
    assert main(["ingest", str(demo / "slack"), str(root / "hostile"), "--store", str(access)]) == 0
    return {"root": root, "store": access, "directory": hostile_directory, "networks": demo / "networks.csv",
            "demo": demo}


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "\x1b" not in out + err
    return out, err


def fleet_options(hostile):
    return ["--store", hostile["store"], "--directory", hostile["directory"], "--networks", hostile["networks"]]


def test_hostile_rows_are_in_the_store_untouched(hostile):
    access = store.read(hostile["store"])
    users = set(access["user"].dropna())
    assert set(NAMES) <= users
    assert {f"{IOS_16} {agent}" for agent in AGENTS} <= set(access["user_agent"].dropna().astype(str))


def test_rejected_rows_csv_is_formula_safe(hostile):
    text = store.rejected_path(hostile["store"]).read_text(encoding="utf-8")
    assert_formula_safe(text, '=HYPERLINK("http://evil.example/ndjson")', "=cmd|' /C calc'!A0,2024-05-01T00:00:00Z")


def test_devices_csv_is_formula_safe(hostile, capsys):
    out, _ = run(capsys, "devices", *fleet_options(hostile), "--format", "csv")
    assert_formula_safe(out, *[name for name in FORMULAS if not name.startswith(("\t", "\r"))],
                        OFFICES[2], DEPARTMENTS[0], DEPARTMENTS[1])
    cells = csv_cells(out)
    assert "'\t=1+1" in cells and "\\x0d=1+1" in cells
    assert SCRIPT in cells and OFFICES[0] in cells  # text, kept as it is: CSV is not HTML


def test_devices_json_keeps_values_exact(hostile, capsys):
    out, _ = run(capsys, "devices", *fleet_options(hostile), "--format", "json")
    records = json.loads(out)
    assert set(NAMES) <= {record["user"] for record in records}


@pytest.mark.parametrize("by", ["office", "department", "platform,office"])
def test_status_csv_is_formula_safe(hostile, capsys, by):
    out, _ = run(capsys, "status", *fleet_options(hostile), "--by", by, "--format", "csv")
    expected = {"office": [OFFICES[2]], "department": DEPARTMENTS[:2], "platform,office": [OFFICES[2]]}[by]
    assert_formula_safe(out, *expected)


def test_status_table_does_not_send_terminal_escapes(hostile, capsys, tmp_path):
    directory = pd.read_csv(hostile["directory"], dtype="str", keep_default_na=False)
    directory.loc[:4, "office"] = "\x1b]0;owned\x07\x1b[2JLondon"
    path = tmp_path / "directory.csv"
    directory.to_csv(path, index=False)
    out, _ = run(capsys, "status", "--store", hostile["store"], "--directory", path, "--by", "office")
    assert "London" in out
    # The office league a dry run shows goes to the terminal too.
    _, err = run(capsys, "nudges", "--store", hostile["store"], "--directory", path, "--league-channel", "C0LEAGUE1",
                 "--state", tmp_path / "state.sqlite")
    assert "London" in err


def test_nudges_plan_csv_is_formula_safe_and_json_is_mrkdwn_escaped(hostile, capsys, tmp_path):
    options = ["nudges", *fleet_options(hostile), "--state", tmp_path / "state.sqlite", "--max", "500"]
    out, _ = run(capsys, *options, "--format", "csv")
    assert_formula_safe(out, *[name for name in FORMULAS if not name.startswith(("\t", "\r"))])
    out, _ = run(capsys, *options, "--format", "json")
    plan = pd.DataFrame(json.loads(out))
    hostile_people = plan[plan["user_id"].str.startswith("U0HOST")]
    assert len(hostile_people) == len(NAMES)
    assert set(hostile_people["user"]) == set(NAMES)
    for column in ("text", "blocks"):
        for value in plan[column]:
            shown = value if isinstance(value, str) else json.dumps(value)
            for raw in ("<script", "<img", "<!channel>", "<@U0BOSS01>", "<a href"):
                assert raw not in shown, (column, raw, shown[:300])
    out, _ = run(capsys, *options, "--format", "table")
    assert "U0HOST0000" in out


def test_ua_csv_is_formula_safe(capsys, monkeypatch):
    lines = [*FORMULAS, "=HYPERLINK(\"x\") Mozilla/5.0", f"{IOS_16} {SCRIPT}"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n", newline=""))
    out, _ = run(capsys, "ua", "--format", "csv")
    assert_formula_safe(out, *lines[:4], lines[6])
    assert f"{IOS_16} {SCRIPT}" in csv_cells(out)


@pytest.mark.parametrize("cell", [" =1+1", "   @SUM(A1)", "\u00a0+1", " \t=1+1"])
def test_a_formula_behind_leading_spaces_is_neutralised(cell):
    # A spreadsheet may trim leading spaces on import, and then read the rest as a formula.
    safe = neutralise_formulas(pd.DataFrame({"office": [cell, " plain"]}))["office"].tolist()
    assert safe[0].startswith("'") and safe[0][1:].lstrip(" \u00a0").startswith(FORMULA_START + ("\\",))
    assert safe[1] == " plain"


def test_catalog_show_csv_is_formula_safe(tmp_path, capsys, monkeypatch):
    extra = tmp_path / "extra.csv"
    extra.write_text("product,version,released,line,eol\n"
                     'ios,99.0,2024-01-01,"=HYPERLINK(""http://evil.example"")",\n'
                     "ios,98.0,2024-01-01,@SUM(1),\n", encoding="utf-8")
    settings = tmp_path / "fleetanalysis.toml"
    settings.write_text(f'[data]\ncatalog = "{extra}"\n', encoding="utf-8")
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    out, _ = run(capsys, "catalog", "show", "--product", "ios", "--as-of", "2024-06-01", "--format", "csv")
    assert_formula_safe(out, '=HYPERLINK("http://evil.example")', "@SUM(1)")


class Elements(HTMLParser):
    """Every element of a page: (tag, attributes) and the text of each script element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse_html(text: str) -> Elements:
    page = Elements()
    page.feed(text)
    page.close()
    return page


def test_report_holds_hostile_text_only_escaped(hostile, tmp_path):
    out_dir = hostile["root"] / "reports"
    # Offices that reverse the text after them (a "Trojan Source" override): shown, never obeyed.
    directory = pd.read_csv(hostile["directory"], dtype="str", keep_default_na=False)
    directory.loc[10:30, "office"] = SPOOFED
    spoofed = tmp_path / "directory.csv"
    directory.to_csv(spoofed, index=False)
    command = [sys.executable, "-m", "fleetanalysis.cli", "report", "--store", hostile["store"].resolve(),
               "--directory", spoofed.resolve(), "--networks", hostile["networks"].resolve(),
               "--out", out_dir, "--names"]
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b[31m" not in done.stdout
    text = Path(done.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8")
    # The data reached the page (escaped), so the checks below are not vacuous.
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Lon\u202edon" not in text and "Lon\\u202edon" in text
    page = parse_html(text)
    for tag, attributes in page.elements:
        handlers = [name for name in attributes if name.startswith("on")]
        assert not handlers, (tag, attributes)
        for name in ("href", "src", "action", "formaction", "data"):
            assert not attributes.get(name, "").strip().lower().startswith("javascript:"), (tag, attributes)
        assert not (tag == "img" and attributes.get("src") == "x"), attributes
    for script in page.scripts:
        assert "alert(" not in script and "evil.example" not in script
    # A page run with --names is never listed in the index nor made the latest (issue 16).
    assert not (out_dir / "latest.html").exists()
    for html in [out_dir / "index.html"]:
        index = parse_html(html.read_text(encoding="utf-8"))
        assert not [name for _, attributes in index.elements for name in attributes if name.startswith("on")]


# The "Trojan Source" characters (CVE-2021-42574: bidirectional embeddings, overrides and
# isolates U+202A-202E, U+2066-2069) reorder what a terminal or a spreadsheet shows, and
# zero-width characters (U+200B-200F, U+FEFF) hide text or make two names look alike.
INVISIBLE = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
             "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff"]
SPOOFED = "Lon\u202edon\u2066gpj.exe\u2069\u200b\ufeff"


def assert_nothing_invisible(text: str) -> None:
    assert not [char for char in INVISIBLE if char in text], [f"U+{ord(c):04X}" for c in INVISIBLE if c in text]


def test_bidi_and_zero_width_characters_never_reach_csv_or_the_terminal(hostile, capsys, tmp_path):
    directory = pd.read_csv(hostile["directory"], dtype="str", keep_default_na=False)
    directory.loc[:4, "office"] = SPOOFED
    directory.loc[:4, "department"] = "".join(INVISIBLE) + "Sales"
    path = tmp_path / "directory.csv"
    directory.to_csv(path, index=False)
    options = ["--store", hostile["store"], "--directory", path]
    for argv in (["status", "--by", "office"], ["status", "--by", "department", "--format", "csv"],
                 ["devices", "--format", "csv"]):
        out, err = run(capsys, *argv, *options)
        assert_nothing_invisible(out + err)
        assert "Lon\\u202edon\\u2066gpj.exe\\u2069\\u200b\\ufeff" in out or "\\ufeffSales" in out, out[:500]
    # JSON keeps the exact value (escaped as \uNNNN, which a JSON reader turns back).
    for argv in (["status", "--by", "office", "--format", "json"], ["devices", "--format", "json"]):
        out, err = run(capsys, *argv, *options)
        assert_nothing_invisible(out + err)
        assert SPOOFED in {record["office"] for record in json.loads(out)}
    out, err = run(capsys, "nudges", *options, "--state", tmp_path / "state.sqlite", "--league-channel", "C0LEAGUE1")
    assert_nothing_invisible(out + err)


def test_ua_output_neutralises_bidi_and_zero_width_characters(capsys, monkeypatch):
    agent = f"{IOS_16}\u202e\u200b"
    for style in ("csv", "json"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(agent + "\n", newline=""))
        out, err = run(capsys, "ua", "--format", style)
        assert_nothing_invisible(out + err)
    assert json.loads(out)[0]["user_agent"] == agent


def test_a_file_name_with_bidi_characters_is_shown_escaped(tmp_path, capsys):
    spoofed = tmp_path / "logs\u202ecsv.exe"
    spoofed.write_text("email,timestamp,user_agent\nann@example.com,2024-05-01T00:00:00Z,Mozilla/5.0\n")
    assert main(["ingest", str(spoofed), "--store", str(tmp_path / "access.parquet")]) == 0
    out, err = capsys.readouterr()
    assert_nothing_invisible(out + err)
    assert "logs\\u202ecsv.exe" in out


@pytest.mark.parametrize("cell", [";=cmd|' /C calc'!A0;", "a; +1+cmd|' /C calc'!A0", "x;\u00a0@SUM(A1)"])
def test_a_formula_after_a_semicolon_stays_inside_its_cell(tmp_path, capsys, cell):
    # An outside trial: Excel in a locale whose list separator is ";" (German, French) split
    # the unquoted ";=cmd|..." there, and the cell after it started with "=".
    from fleetanalysis.cli.output import write_table
    from fleetanalysis.writing import write_csv

    frame = pd.DataFrame({"user": [cell, "ana"], "devices": [1, 2]})
    write_csv(frame, tmp_path / "out.csv")
    write_table(frame, "csv")
    for text in ((tmp_path / "out.csv").read_text(), capsys.readouterr().out):
        as_split = [piece for row in csv.reader(io.StringIO(text, newline=""), delimiter=";") for piece in row]
        assert not [piece for piece in as_split if is_formula(piece)], text
        assert cell in csv_cells(text)  # and a comma-separated reader still reads the cell whole
