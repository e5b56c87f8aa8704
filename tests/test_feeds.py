"""`catalog update` against a real HTTP server on 127.0.0.1 serving the feeds' documented shapes."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from fleetanalysis import catalog, cli, feeds
from fleetanalysis.errors import BadInput, JobFailed

ENDOFLIFE = {
    "ios": {"schema_version": "1.2.0", "generated_at": "2024-12-01T00:00:00+00:00", "result": {
        "name": "ios", "label": "Apple iOS", "releases": [
            {"name": "18", "label": "18", "releaseDate": "2024-09-16", "isLts": False, "isEol": False,
             "eolFrom": None, "isMaintained": True, "latest": {"name": "18.1.1", "date": "2024-11-19", "link": None}},
            {"name": "17", "label": "17", "releaseDate": "2023-09-18", "isLts": False, "isEol": False,
             "eolFrom": "2025-09-15", "isMaintained": True, "latest": {"name": "17.7.2", "date": "2024-11-19", "link": None}},
        ]}},
    "android": {"schema_version": "1.2.0", "result": {"name": "android", "releases": [
        {"name": "15", "releaseDate": "2024-10-15", "isEol": False, "eolFrom": None, "latest": None},
        {"name": "12", "releaseDate": "2021-10-04", "isEol": True, "eolFrom": "2025-03-31", "latest": None},
    ]}},
}
SOFA = {
    "ios": {"UpdateHash": "abc", "OSVersions": [
        {"OSVersion": "18", "Latest": {"ProductVersion": "18.1.1"}, "SecurityReleases": [
            {"UpdateName": "iOS 18.1.1 and iPadOS 18.1.1", "ProductName": "iOS and iPadOS", "ProductVersion": "18.1.1",
             "ReleaseDate": "2024-11-19T00:00:00Z", "SecurityInfo": "https://support.apple.com/en-us/121752",
             "CVEs": {"CVE-2024-44308": True}, "ActivelyExploitedCVEs": ["CVE-2024-44308"], "UniqueCVEsCount": 2,
             "DaysSincePreviousRelease": 21},
            {"UpdateName": "iOS 18.1", "ProductName": "iOS", "ProductVersion": "18.1",
             "ReleaseDate": "2024-10-28T00:00:00Z", "CVEs": {}, "ActivelyExploitedCVEs": [], "UniqueCVEsCount": 0},
        ]},
        {"OSVersion": "17", "SecurityReleases": [
            {"UpdateName": "iOS 17.7.2 and iPadOS 17.7.2", "ProductVersion": "17.7.2",
             "ReleaseDate": "2024-11-19T00:00:00Z", "ActivelyExploitedCVEs": []},
        ]},
    ]},
    "macos": {"UpdateHash": "def", "OSVersions": [
        {"OSVersion": "Sequoia 15", "SecurityReleases": [
            {"UpdateName": "macOS Sequoia 15.1.1", "ProductName": "macOS Sequoia", "ProductVersion": "15.1.1",
             "ReleaseDate": "2024-11-19T00:00:00Z", "ActivelyExploitedCVEs": ["CVE-2024-44308"]},
        ]},
    ]},
}
CHROME_PAGES = {
    None: {"releases": [
        {"name": "chrome/platforms/win/channels/stable/versions/131.0.6778.86/releases/1732137600",
         "serving": {"startTime": "2024-11-20T21:13:44.123Z"}, "fraction": 1, "version": "131.0.6778.86",
         "fractionGroup": "1"},
        {"name": "chrome/platforms/win/channels/stable/versions/131.0.6778.86/releases/1732000000",
         "serving": {"startTime": "2024-11-19T19:00:00Z", "endTime": "2024-11-20T21:13:44Z"}, "fraction": 0.1,
         "version": "131.0.6778.86"},
    ], "nextPageToken": "page-2"},
    "page-2": {"releases": [
        {"name": "chrome/platforms/win/channels/stable/versions/131.0.6778.69/releases/1731500000",
         "serving": {"startTime": "2024-11-12T20:00:00Z", "endTime": "2024-11-19T19:00:00Z"}, "fraction": 1,
         "version": "131.0.6778.69"},
    ], "nextPageToken": ""},
}




def _slack_page(platform, releases):
    """A release-notes page in the shape slack.com/release-notes/<platform> serves: server-rendered,
    newest first, one <article> per release (anchor, <h2>Slack x.y.z</h2>, <p>Month D, YYYY</p>,
    sections). Shape as described for the Mac page in a public changelog reader's recipe (Slack
    4.50.128, May 26, 2026) and as scraped with `div.release-note article` / h2 / first p by
    SamuelSey05/ReviewAnalysis; versions and dates from this repo's catalog sources."""
    articles = "".join(
        f'<article><a name="{11700 + number}"></a>\n  <h2 class="u-flex u-align--center">Slack {version}</h2>\n'
        f'  <p>{date}</p>\n  <h3>Bug Fixes</h3><ul><li>Fixed a thing on {platform}.</li></ul></article>\n'
        for number, (version, date) in enumerate(releases))
    return (f'<!DOCTYPE html><html lang="en-US"><head><title>Slack for {platform} release notes</title></head>'
            f'<body><main><h1>Release notes</h1><div class="release-note">{articles}</div></main></body></html>')


SLACK_PAGES = {
    "ios": _slack_page("iOS", [("19.11.20", "November 18, 2019"), ("3.48", "July 7, 2018")]),
    "android": _slack_page("Android", [("26.01.30", "January 21, 2026"), ("26.01.20", "January 14, 2026")]),
    "mac": _slack_page("Mac", [("4.50.128", "May 26, 2026"), ("4.49.89", "May 1, 2026")]),
    "windows": _slack_page("Windows", [("4.49.89", "May 4, 2026"), ("4.47.69", "December 11, 2025")]),
    "linux": _slack_page("Linux", [("4.49.89", "May 5, 2026"), ("4.47.69", "December 11, 2025")]),
}


def _windows_page(title, versions):
    """Microsoft's release information page shape (learn.microsoft.com/windows/release-health):
    a summary table at the top, then per version a <strong>Version 22H2 (OS build 19045)</strong>
    heading over its history table (id historyTable_N; columns Servicing option, [Update type,]
    Availability date, Build, KB article), as read by public scrapers (HaloPSA's Windows module:
    td[1] date, td[2] build; Get-WindowsReleaseHistory: 'Version (\\w{4}) ... (OS build (\\d{5}))').
    Builds, dates and KB numbers are Microsoft's published ones."""
    summary = ('<table><tr><th>Version</th><th>Servicing option</th><th>Availability date</th>'
               '<th>Latest update</th><th>Latest build</th></tr>'
               + "".join(f'<tr class="highlight"><td>{release}</td><td>General Availability Channel</td>'
                         f'<td>{rows[-1][1]}</td><td>{rows[0][1]}</td><td>{build}.{rows[0][2]}</td></tr>'
                         for release, build, typed, rows in versions) + '</table>')
    sections = []
    for number, (release, build, typed, rows) in enumerate(versions):
        head = "<th>Servicing option</th>" + ("<th>Update type</th>" if typed else "") + \
            "<th>Availability date</th><th>Build</th><th>KB article</th>"
        body = "".join(
            "<tr><td>&bull; General Availability Channel</td>" + (f"<td>{kind}</td>" if typed else "")
            + f'<td>{date}</td><td>{build}.{revision}</td>'
            f'<td><a href="https://support.microsoft.com/help/{kb[2:]}">{kb}</a></td></tr>'
            for kind, date, revision, kb in rows)
        sections.append(f'<p><strong>Version {release} (OS build {build})</strong></p>'
                        f'<table id="historyTable_{number}" class="cells-centered"><tr>{head}</tr>{body}</table>')
    return f"<html><head><title>{title}</title></head><body>{summary}{''.join(sections)}</body></html>"


WINDOWS_PAGES = {
    "/en-us/windows/release-health/release-information": _windows_page("Windows 10 release information", [
        ("22H2", "19045", False, [("", "2025-04-08", "5737", "KB5055518"), ("", "2025-03-25", "5679", "KB5053643"),
                                  ("", "2025-03-11", "5608", "KB5053606")])]),
    "/en-us/windows/release-health/windows11-release-information": _windows_page("Windows 11 release information", [
        ("24H2", "26100", True, [("2025-04 B", "2025-04-08", "3775", "KB5055523"),
                                 ("2025-03 D", "2025-03-27", "3624", "KB5053656"),
                                 ("2025-03 B", "2025-03-11", "3476", "KB5053598")])]),
}


class _Feeds(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        self.server.seen.append(self.path)
        body, status = None, 200
        if url.path.startswith("/api/v1/products/"):
            product = url.path.rsplit("/", 1)[-1]
            if product == "macos":
                status = 500
            elif product == "firefox":
                body = b"{not json"
            elif product == "safari":
                time.sleep(1.5)
                body = b"{}"
            elif product in ENDOFLIFE:
                body = json.dumps(ENDOFLIFE[product]).encode()
            else:
                status = 404
        elif url.path in ("/v1/ios_data_feed.json", "/v1/macos_data_feed.json"):
            body = json.dumps(SOFA[url.path.split("/")[2].split("_")[0]]).encode()
        elif url.path == "/v1/chrome/platforms/win/channels/stable/versions/all/releases":
            token = parse_qs(url.query).get("pageToken", [None])[0]
            body = json.dumps(CHROME_PAGES[token]).encode()
        elif url.path.startswith("/release-notes/") and url.path.rsplit("/", 1)[-1] in SLACK_PAGES:
            body = SLACK_PAGES[url.path.rsplit("/", 1)[-1]].encode()
        elif url.path == "/slow/release-notes/ios":
            time.sleep(1.5)
            body = b"<html></html>"
        elif url.path in WINDOWS_PAGES:
            body = WINDOWS_PAGES[url.path].encode()
        else:
            status = 404
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if body is not None and status == 200:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first: the timeout test wants exactly that

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


def _bases(url):
    return {"endoflife": url, "sofa": url, "chrome": url, "slack": url, "windows": url}


TODAY = pd.Timestamp("2024-12-01")


def test_update_writes_an_overlay_the_catalog_reads(server, tmp_path):
    url, _ = server
    out = tmp_path / "catalog-updates.csv"
    results = feeds.update(out, ["ios", "ipados", "chrome", "android"], _bases(url), timeout=5, today=TODAY)
    assert [(r.feed, r.product, r.ok) for r in results] == [
        ("endoflife", "ios", True), ("sofa", "ios", True), ("endoflife", "ipados", False), ("sofa", "ipados", True),
        ("chrome", "chrome", True), ("endoflife", "android", True)]
    releases = catalog.load(updates=out, files=[])
    ios = releases[releases["product"] == "ios"].set_index("version")
    assert ios.index.tolist() == ["17.7.2", "18.1", "18.1.1"]
    assert bool(ios.loc["18.1.1", "exploited"]) is True and bool(ios.loc["18.1", "exploited"]) is False
    assert ios.loc["17.7.2", "eol"] == pd.Timestamp("2025-09-15") and pd.isna(ios.loc["18.1", "eol"])
    ipados = releases[releases["product"] == "ipados"]["version"].tolist()
    assert ipados == ["17.7.2", "18.1.1"]  # only releases SOFA names as iPadOS
    chrome = releases[releases["product"] == "chrome"].set_index("version")
    assert chrome["released"].astype(str).to_dict() == {"131.0.6778.69": "2024-11-12", "131.0.6778.86": "2024-11-19"}
    android = releases[releases["product"] == "android"].set_index("version")
    assert android.loc["12", "eol"] == pd.Timestamp("2025-03-31")
    # SOFA, Chrome and endoflife's Android list every release; endoflife's iOS latest-per-line does not.
    assert releases.attrs["complete_until"] == {p: TODAY for p in ("android", "chrome", "ios", "ipados")}


def test_a_failing_feed_leaves_its_products_as_they_were(server, tmp_path):
    url, _ = server
    out = tmp_path / "catalog-updates.csv"
    out.write_text("product,version,released,line,eol,exploited,source,complete_until\n"
                   "macos,14.7.1,2024-10-28,14,,,sofa,2024-11-01\n"
                   "firefox,132.0.2,2024-11-12,132,,,endoflife.date,\n")
    results = feeds.update(out, ["macos", "firefox"], _bases(url), timeout=5, today=TODAY)
    problems = {(r.feed, r.product): r.problem for r in results if not r.ok}
    assert problems == {
        ("endoflife", "macos"): f"{url}/api/v1/products/macos: HTTP 500",
        ("endoflife", "firefox"): f"{url}/api/v1/products/firefox: not JSON (JSONDecodeError)",
    }
    rows = catalog.load_releases_csv(out)
    assert sorted(rows["version"]) == ["132.0.2", "14.7.1", "15.1.1"]
    assert rows.attrs["complete_until"]["macos"] == TODAY


def test_all_feeds_failing_is_a_job_failure_and_touches_nothing(server, tmp_path):
    url, _ = server
    out = tmp_path / "catalog-updates.csv"
    out.write_text("product,version,released,line\nfirefox,132.0.2,2024-11-12,132\n")
    before = out.read_bytes()
    with pytest.raises(JobFailed, match="every feed failed"):
        feeds.update(out, ["firefox"], _bases(url), timeout=5, today=TODAY)
    assert out.read_bytes() == before


def test_a_slow_feed_times_out(server, tmp_path):
    url, _ = server
    [result] = feeds.refresh(["safari"], _bases(url), timeout=0.3, today=TODAY)
    assert not result.ok and result.problem.startswith(f"{url}/api/v1/products/safari: ")
    assert "timed out" in result.problem


def test_wrong_shape_is_a_failure_not_a_crash():
    with pytest.raises(feeds.FeedFailed, match="not the endoflife.date v1 shape"):
        feeds.endoflife_releases({"releases": []}, "ios", TODAY)
    with pytest.raises(feeds.FeedFailed, match="not the SOFA v1 shape"):
        feeds.sofa_releases({"OSVersions": [{"SecurityReleases": [{"ReleaseDate": "2024-01-01"}]}]}, "ios", TODAY)
    with pytest.raises(feeds.FeedFailed, match="not the VersionHistory shape"):
        feeds.chrome_releases([{"releases": [{"version": "131.0.1"}]}], TODAY)


def test_unreadable_feed_values_are_dropped():
    payload = {"OSVersions": [{"OSVersion": "18", "SecurityReleases": [
        {"ProductVersion": "=HYPERLINK(1)", "ReleaseDate": "2024-11-19T00:00:00Z"},
        {"ProductVersion": "18.1", "ReleaseDate": "not a date"},
        {"ProductVersion": "18.1.1", "ReleaseDate": "2024-11-19T00:00:00Z"}]}]}
    assert feeds.sofa_releases(payload, "ios", TODAY)["version"].tolist() == ["18.1.1"]


def test_plan_refuses_products_without_a_feed():
    with pytest.raises(BadInput, match="no public feed"):
        feeds.plan(["edge"])
    assert {feed for feed, _ in feeds.plan(None)} == {"endoflife", "sofa", "chrome", "slack", "windows"}


def test_cli_update(server, tmp_path, capsys):
    url, httpd = server
    out = tmp_path / "updates.csv"
    status = cli.main(["catalog", "update", "--product", "macos", "--product", "chrome",
                       "--base-url-endoflife", url, "--base-url-sofa", url, "--base-url-chrome", url,
                       "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0
    assert "sofa macos: 1 release(s)" in captured.out and "chrome chrome: 2 release(s)" in captured.out
    assert "endoflife macos failed: " in captured.err and "HTTP 500" in captured.err
    assert out.exists()
    assert any(path.startswith("/v1/chrome/") and "pageToken=page-2" in path for path in httpd.seen)


def test_cli_update_all_failed_exits_1(server, tmp_path, capsys):
    url, _ = server
    status = cli.main(["catalog", "update", "--product", "firefox", "--base-url-endoflife", url,
                       "--out", str(tmp_path / "updates.csv")])
    assert status == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "every feed failed" in err
    assert not (tmp_path / "updates.csv").exists()


def test_cli_update_product_without_feed_exits_2(tmp_path, capsys):
    assert cli.main(["catalog", "update", "--product", "edge", "--out", str(tmp_path / "u.csv")]) == 2
    assert "no public feed" in capsys.readouterr().err


def test_slack_release_notes_give_every_slack_app_its_releases(server, tmp_path):
    url, _ = server
    out = tmp_path / "catalog-updates.csv"
    results = feeds.update(out, ["slack-ios", "slack-android", "slack-desktop"], _bases(url), timeout=5, today=TODAY)
    assert [(r.feed, r.product, r.ok) for r in results] == [
        ("slack", "slack-ios", True), ("slack", "slack-android", True), ("slack", "slack-desktop", True)]
    releases = catalog.load(updates=out, files=[])
    dated = {(product, version): str(day.date()) for product, version, day in
             releases[["product", "version", "released"]].itertuples(index=False)}
    assert dated[("slack-ios", "19.11.20")] == "2019-11-18" and dated[("slack-ios", "3.48")] == "2018-07-07"
    assert dated[("slack-android", "26.01.30")] == "2026-01-21"
    # A desktop version on three pages takes its latest date: lenient, never harsher.
    assert dated[("slack-desktop", "4.49.89")] == "2026-05-05"
    assert dated[("slack-desktop", "4.50.128")] == "2026-05-26"
    assert releases.set_index("version").loc["4.50.128", "line"] == "4.50"
    assert releases.attrs["complete_until"] == {p: TODAY for p in ("slack-android", "slack-desktop", "slack-ios")}


def test_windows_release_information_gives_cumulative_update_builds(server, tmp_path):
    url, _ = server
    out = tmp_path / "catalog-updates.csv"
    [result] = feeds.update(out, ["windows"], _bases(url), timeout=5, today=TODAY)
    assert result.ok, result.problem
    windows = catalog.load(updates=out, files=[]).set_index("version")
    # Previews are left out: the "D" row, and without an update-type column any day but Patch Tuesday.
    assert windows["released"].astype(str).to_dict() == {
        "10.0.19045.5608": "2025-03-11", "10.0.19045.5737": "2025-04-08",
        "10.0.26100.3476": "2025-03-11", "10.0.26100.3775": "2025-04-08"}
    assert windows["line"].to_dict() == {"10.0.19045.5608": "10 22H2", "10.0.19045.5737": "10 22H2",
                                         "10.0.26100.3476": "11 24H2", "10.0.26100.3775": "11 24H2"}
    # Over the shipped file, the feature updates keep their end of support.
    merged = catalog.load(updates=out)
    line = merged[(merged["product"] == "windows") & (merged["line"] == "10 22H2")]
    assert set(line["eol"].astype(str)) == {"2025-10-14"}
    assert catalog.load(updates=out, files=[]).attrs["complete_until"] == {"windows": TODAY}


def test_pages_of_another_shape_fail_that_feed_only():
    with pytest.raises(feeds.FeedFailed, match="not the Slack release-notes shape"):
        feeds.slack_releases({"ios": "<html><h1>Moved</h1></html>"}, "slack-ios", TODAY)
    with pytest.raises(feeds.FeedFailed, match="not the Windows release information shape"):
        feeds.windows_releases(["<html><table><tr><td>1</td></tr></table></html>"], TODAY)
    # A release whose date cannot be read is dropped, not guessed.
    page = _slack_page("iOS", [("25.10.10", "Octobre 7, 2025"), ("25.10.20", "October 14, 2025")])
    assert feeds.slack_releases({"ios": page}, "slack-ios", TODAY)["version"].tolist() == ["25.10.20"]


def test_the_whole_refresh_keeps_to_its_budget(server):
    url, _ = server
    started = time.monotonic()
    results = feeds.refresh(["slack-ios", "safari", "slack-android"], {**_bases(url), "slack": f"{url}/slow"},
                            timeout=5, today=TODAY, budget=0.6)
    assert time.monotonic() - started < 1.5
    assert not any(result.ok for result in results)
    assert "time budget spent" in results[-1].problem


def test_cli_update_if_online_says_one_line_when_offline(tmp_path, capsys):
    dead = "http://127.0.0.1:9"
    arguments = ["catalog", "update", "--if-online", "--budget", "3", "--out", str(tmp_path / "u.csv")]
    arguments += [option for feed in feeds.DEFAULT_BASE_URLS for option in (f"--base-url-{feed}", dead)]
    assert cli.main(arguments) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "offline" in captured.err
    assert not (tmp_path / "u.csv").exists()


def test_cli_update_if_online_summarises_in_one_line(server, tmp_path, capsys):
    url, _ = server
    arguments = ["catalog", "update", "--if-online", "--product", "slack-ios", "--product", "windows",
                 "--out", str(tmp_path / "u.csv")]
    arguments += [option for feed in feeds.DEFAULT_BASE_URLS for option in (f"--base-url-{feed}", url)]
    assert cli.main(arguments) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("catalog update: 2 of 2 feed(s) read, 6 release(s)")


def test_cli_catalog_coverage_lists_each_product_complete_to(tmp_path, capsys, monkeypatch):
    assert cli.main(["catalog", "coverage", "--format", "json"]) == 0
    listed = {row["product"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(catalog.coverage(catalog.load()).index)
    assert listed["android"]["complete_until"] == str(catalog.coverage(catalog.load())["android"].date())
