"""``fetch slack`` runs the real slack_sdk client against a local team.accessLogs server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from fleetanalysis import fetch, slack as slack_module, store
from fleetanalysis.cli import main
from fleetanalysis.errors import JobFailed

TOKEN = "xoxp-1111-2222-secret-test-token"
T0 = 1714521600
# The most requests a test server answers: a fetch that does not stop fails instead of hanging.
GIVE_UP = 300
UA = "SlackWeb/5a6b Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/124.0.0.0 Safari/537.36"


def login(number, first, last=None, count=1):
    return {"user_id": f"U{number:03d}", "username": f"user{number}", "date_first": first,
            "date_last": last or first + 60, "count": count, "ip": f"192.0.2.{number % 250}",
            "user_agent": UA, "isp": None, "country": None, "region": None}


class FakeSlack:
    """team.accessLogs as documented: newest first, `before` inclusive, at most `window` pages."""

    def __init__(self, logins, window):
        self.logins = logins
        self.window = window
        self.faults: list[tuple] = []  # (status, body[, headers]) served before normal answers
        self.pager = None  # a hostile server: query -> answer, instead of the documented one
        self.error: str | None = None
        self.requests: list[dict] = []
        self.auth: set[str] = set()

    def answer(self, query):
        if self.error:
            return 200, {"ok": False, "error": self.error}
        if len(self.requests) > GIVE_UP:
            return 200, {"ok": False, "error": "test_server_gave_up"}
        if self.pager:
            return 200, self.pager(query)
        return 200, self.documented(query)

    def documented(self, query):
        before = int(query.get("before", ["0"])[0] or 0) or None
        count = int(query.get("count", ["100"])[0])
        page = int(query.get("page", ["1"])[0])
        rows = sorted((row for row in self.logins if before is None or row["date_first"] <= before),
                      key=lambda row: (-row["date_first"], row["user_id"]))
        pages = min(max(1, -(-len(rows) // count)), self.window)
        if page > self.window:
            return {"ok": False, "error": "over_pagination_limit"}
        return {"ok": True, "logins": rows[(page - 1) * count: page * count],
                "paging": {"count": count, "total": len(rows), "page": page, "pages": pages}}


@pytest.fixture
def slack():
    fake = FakeSlack([], window=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            # slack_sdk sends every Web API method as a POST; the arguments may be in the URL or the body.
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            query = {**parse_qs(url.query), **parse_qs(body)}
            fake.requests.append({key: values[0] for key, values in query.items()})
            fake.auth.add(self.headers.get("Authorization", ""))
            if url.path != "/team.accessLogs":
                status, body, headers = 404, b"{}", {}
            elif fake.faults:
                status, text, *extra = fake.faults.pop(0)
                body, headers = text.encode(), (extra[0] if extra else {"Retry-After": "0"} if status == 429 else {})
            else:
                status, answer = fake.answer(query)
                body, headers = json.dumps(answer).encode(), {}
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield fake
    server.shutdown()
    server.server_close()


def run(slack, tmp_path, **options):
    return fetch.fetch_slack(TOKEN, tmp_path / "access.parquet", tmp_path / "raw", base_url=slack.url,
                             window_pages=2, count=3, **options)


def assert_token_nowhere(tmp_path):
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_walks_past_the_window_and_dedupes_the_boundary(slack, tmp_path):
    # 14 rows over 11 distinct seconds: windows of 2 pages x 3 rows end on shared seconds.
    firsts = [T0 + 100 * n for n in range(11)]
    slack.logins = [login(n, firsts[min(n, 10)]) for n in range(14)]
    result = run(slack, tmp_path)
    assert slack.auth == {f"Bearer {TOKEN}"}
    access = store.read(tmp_path / "access.parquet")
    assert sorted(access["user_id"]) == sorted(row["user_id"] for row in slack.logins)
    assert result.counts["loaded"].sum() == 14
    assert (result.counts["read"] == result.counts["loaded"] + result.counts["rejected"]
            + result.counts["duplicates"]).all()
    assert result.counts["duplicates"].sum() > 0  # boundary rows came back and merged
    befores = [request.get("before") for request in slack.requests]
    assert befores[0] is None and len(set(befores)) > 2
    assert all(int(request["page"]) <= 2 and request["count"] == "3" for request in slack.requests)
    assert len(result.pages) == result.requests == len(slack.requests)
    assert all(path.parent == tmp_path / "raw" and path.suffix == ".json" for path in result.pages)
    assert access["user_agent"].iloc[0].startswith("SlackWeb/5a6b Mozilla/5.0")
    assert_token_nowhere(tmp_path)


def test_a_window_of_one_second_cannot_loop_forever(slack, tmp_path):
    slack.logins = [login(n, T0 + 5000) for n in range(9)] + [login(99, T0)]
    result = run(slack, tmp_path)
    assert result.requests < 10
    assert "U099" in set(store.read(tmp_path / "access.parquet")["user_id"])


def test_rate_limits_and_server_errors_are_retried(slack, tmp_path):
    slack.logins = [login(n, T0 + n) for n in range(4)]
    slack.faults = [(429, '{"ok": false, "error": "ratelimited"}'), (500, "<html>oops</html>")]
    result = run(slack, tmp_path)
    assert len(slack.requests) == result.requests + 2
    assert len(store.read(tmp_path / "access.parquet")) == 4


def test_retries_are_bounded(slack, tmp_path):
    slack.faults = [(429, '{"ok": false, "error": "ratelimited"}')] * 10
    with pytest.raises(JobFailed, match="ratelimited"):
        run(slack, tmp_path, max_retries=2)
    assert len(slack.requests) == 3


@pytest.mark.parametrize("error", ["paid_only", "not_allowed_token_type"])
def test_slack_errors_fail_the_job_with_their_name(slack, tmp_path, error):
    slack.error = error
    with pytest.raises(JobFailed, match=error) as caught:
        run(slack, tmp_path)
    assert TOKEN not in str(caught.value)
    assert not (tmp_path / "access.parquet").exists()


def test_resume_fetches_only_what_is_new(slack, tmp_path):
    slack.logins = [login(n, T0 + 86_400 * n) for n in range(12)]
    first = run(slack, tmp_path)
    assert len(store.read(tmp_path / "access.parquet")) == 12
    newest = T0 + 86_400 * 20
    slack.logins = slack.logins + [login(50, newest), login(51, newest + 10)]
    slack.logins[11] = login(11, T0 + 86_400 * 11, last=newest + 20, count=7)  # the same row, seen again
    slack.requests.clear()
    second = run(slack, tmp_path)
    # The rows older than the stored newest sighting minus a day are never asked for again.
    assert second.requests < first.requests
    oldest_asked = min(int(request.get("before") or newest) for request in slack.requests)
    assert oldest_asked >= T0 + 86_400 * 8, slack.requests
    access = store.read(tmp_path / "access.parquet").set_index("user_id")
    assert len(access) == 14
    assert access.loc["U011", "count"] == 7
    assert second.counts["loaded"].sum() == 2


def test_cli_fetch_slack(slack, tmp_path, monkeypatch, capsys):
    slack.logins = [login(n, T0 + n) for n in range(2)]
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    target = tmp_path / "store.parquet"
    argv = ["fetch", "slack", "--token-env", "TEST_SLACK_TOKEN", "--base-url", slack.url.rstrip("/"),
            "--raw-dir", str(tmp_path / "raw"), "--store", str(target)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "read 2, loaded 2, rejected 0, duplicates 0" in out
    assert len(store.read(target)) == 2
    slack.error = "not_allowed_token_type"
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert err == "fleetanalysis: Slack team.accessLogs failed: not_allowed_token_type\n"
    assert TOKEN not in out + err
    monkeypatch.delenv("TEST_SLACK_TOKEN")
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert_token_nowhere(tmp_path)


def waits(monkeypatch):
    """The waits the rate-limit retries ask for, recorded instead of slept."""
    asked = []
    monkeypatch.setattr(slack_module, "time", type("Clock", (), {"sleep": staticmethod(asked.append),
                                                                 "time": staticmethod(time.time)}))
    return asked


@pytest.mark.parametrize("value, waited", [("abc", 1.0), ("-5", 0.0), ("", 1.0), ("7", 7.0)])
def test_retry_after_is_read_defensively(slack, tmp_path, monkeypatch, value, waited):
    asked = waits(monkeypatch)
    slack.logins = [login(n, T0 + n) for n in range(2)]
    slack.faults = [(429, '{"ok": false, "error": "ratelimited"}', {"Retry-After": value})]
    run(slack, tmp_path)
    assert asked == [waited] and len(store.read(tmp_path / "access.parquet")) == 2


def test_a_huge_retry_after_stops_in_one_line_and_the_next_run_carries_on(slack, tmp_path, monkeypatch, capsys):
    asked = waits(monkeypatch)
    slack.logins = [login(n, T0 + n) for n in range(2)]
    slack.faults = [(429, '{"ok": false, "error": "ratelimited"}', {"Retry-After": "1000000"})]
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    argv = ["fetch", "slack", "--token-env", "TEST_SLACK_TOKEN", "--base-url", slack.url,
            "--raw-dir", str(tmp_path / "raw"), "--store", str(tmp_path / "access.parquet")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1000000 s" in err and "run again later" in err
    assert asked == [] and not (tmp_path / "access.parquet").exists()
    assert main(argv) == 0 and len(store.read(tmp_path / "access.parquet")) == 2


def test_a_server_repeating_one_page_for_ever_is_asked_twice(slack, tmp_path):
    # Claims more pages than Slack ever serves and ignores `page` and `before`.
    slack.pager = lambda query: {"ok": True, "logins": [login(1, T0)],
                                 "paging": {"count": 3, "total": 10**9, "page": 1, "pages": 10**6}}
    with pytest.raises(JobFailed, match="repeats an earlier page") as caught:
        run(slack, tmp_path)
    assert len(slack.requests) == 2 and "\n" not in str(caught.value)
    assert len(list((tmp_path / "raw").iterdir())) == 1 and not (tmp_path / "access.parquet").exists()


def test_a_server_ignoring_before_stops_after_two_windows_with_nothing_new(slack, tmp_path):
    slack.logins = [login(n, T0 + n) for n in range(20)]
    slack.pager = lambda query: slack.documented({**query, "before": ["0"]})
    with pytest.raises(JobFailed, match="ignores 'before'"):
        run(slack, tmp_path)
    assert len(slack.requests) == 3 * 2  # three windows of two pages
    assert not (tmp_path / "access.parquet").exists()


def test_an_endless_pager_with_fresh_rows_stops_at_max_pages(slack, tmp_path, monkeypatch, capsys):
    def fresh(query):
        number = len(slack.requests)
        return {"ok": True, "logins": [login(number, T0 - 60 * number)],
                "paging": {"count": 3, "total": 10**9, "page": int(query["page"][0]), "pages": 10**6}}

    slack.pager = fresh
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    argv = ["fetch", "slack", "--token-env", "TEST_SLACK_TOKEN", "--base-url", slack.url, "--max-pages", "25",
            "--raw-dir", str(tmp_path / "raw"), "--store", str(tmp_path / "access.parquet")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "25" in err and "--max-pages" in err
    assert len(slack.requests) == 25 and len(list((tmp_path / "raw").iterdir())) == 25
    assert not (tmp_path / "access.parquet").exists()
    assert main([*argv[:-6], "--max-pages", "0", *argv[-4:]]) == 2  # a bound that allows nothing is refused


@pytest.mark.parametrize("body", ['["ok"]', '"ok"'])
def test_an_answer_that_is_not_a_json_object_fails_in_one_line(slack, tmp_path, body):
    slack.faults = [(200, body)]
    with pytest.raises(JobFailed, match="team.accessLogs answered without a JSON object"):
        run(slack, tmp_path)
    assert not (tmp_path / "access.parquet").exists()
