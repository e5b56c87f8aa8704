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
    return {"endoflife": url, "sofa": url, "chrome": url}


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
        feeds.plan(["slack-desktop"])
    assert {feed for feed, _ in feeds.plan(None)} == {"endoflife", "sofa", "chrome"}


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
