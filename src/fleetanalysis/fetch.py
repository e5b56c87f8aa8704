"""Pull Slack ``team.accessLogs`` into data/raw/slack/ and the access store.

The API serves at most 100 pages of 1,000 rows for a given ``before``; to go further
back, the fetcher moves ``before`` to the oldest ``date_first`` of the window and starts
again at page 1. ``before`` is inclusive, so rows sharing that second come back; the
store's dedupe merges them, and ``before`` always moves back at least one second, so a
window full of one second cannot loop forever. A fetch resumes from the store: it stops
after a page whose rows all have ``date_last`` older than the newest stored Slack
``last_seen`` minus ``margin`` (older rows cannot have changed since).

Paging stops, failing the fetch, when the server does not page as documented: a page
that repeats an earlier page of the same window (``page`` ignored), two windows in a
row that bring no page not seen before (``before`` ignored), or ``max_pages`` requests
while more are still claimed. Rate limits are waited out as Slack asks, up to a minute
(``fleetanalysis.slack``); a longer wait stops the fetch, and the next run starts again.

Each page is saved as it arrives (atomically, named by run time, ``before`` and page)
and the pages are loaded into the store only when the whole fetch succeeded, because a
partial fetch in the store would make the next resume skip the gap. The token is only
handed to slack_sdk; it is never written to a page, a message or an exception.

Examples:
    >>> page_name("20240501T000000Z", None, 3)
    'access-20240501T000000Z-before-now-page-003.json'
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from tqdm import tqdm

from fleetanalysis import slack, sources, store
from fleetanalysis.errors import JobFailed
from fleetanalysis.writing import write_text

# Slack's documented window: `page` may not exceed 100, `count` may not exceed 1,000.
WINDOW_PAGES = 100
PAGE_SIZE = 1000
# Ten million rows: far beyond a real workspace's logs, well short of a server looping for ever.
MAX_PAGES = 10_000
MARGIN = pd.Timedelta(days=1)
MAX_RETRIES = slack.RETRIES


@dataclass
class FetchResult:
    """What a fetch did: the pages saved, the requests answered, the store merge counts."""

    pages: list[Path] = field(default_factory=list)
    requests: int = 0
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)


def token_from_env(name: str) -> str:
    """The Slack user token in environment variable ``name``; ``BadInput`` when it is unset.

    Examples:
        >>> token_from_env("FLEETANALYSIS_SURELY_UNSET")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: $FLEETANALYSIS_SURELY_UNSET: no Slack token: set it to a user token with the admin scope (xoxp-...)
    """
    return slack.token_from_env(name, "a user token with the admin scope (xoxp-...)")


def page_name(run: str, before: int | None, page: int) -> str:
    """The file name of one saved response page."""
    return f"access-{run}-before-{'now' if before is None else before}-page-{page:03d}.json"


def resume_after(access: pd.DataFrame, margin: pd.Timedelta = MARGIN) -> pd.Timestamp | None:
    """The cut-off for a resumed fetch: newest stored Slack ``last_seen`` minus ``margin``.

    Examples:
        >>> from fleetanalysis.sources.schema import conform
        >>> resume_after(conform(pd.DataFrame({"source": ["slack_access"], "last_seen": ["2024-05-02T00:00:00Z"]})))
        Timestamp('2024-05-01 00:00:00+0000', tz='UTC')
    """
    last = access.loc[access["source"] == "slack_access", "last_seen"]
    return None if last.dropna().empty else last.max() - margin


def _numbers(logins: list, name: str) -> list[float]:
    """The numeric values of ``name`` in the login rows (unix dates), skipping odd rows."""
    values = (row.get(name) for row in logins if isinstance(row, dict))
    return [value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool)]


def _request(api: WebClient, before: int | None, count: int, page: int) -> dict:
    """One accessLogs page as a dict; ``JobFailed`` naming Slack's error, never the token."""
    try:
        response = api.team_accessLogs(before=before, count=count, page=page)
    except SlackApiError as error:
        raise JobFailed(f"Slack team.accessLogs failed: {slack.error_name(error)}") from None
    except slack.UnexpectedAnswer:
        raise
    except slack.FAILURES as error:
        raise JobFailed(f"Slack team.accessLogs failed: cannot reach {api.base_url} "
                        f"({type(error).__name__})") from None
    data = response.data
    if not isinstance(data, dict):
        raise JobFailed("Slack team.accessLogs failed: the answer is not a JSON object")
    return data


def _digest(logins: list) -> bytes:
    """A fingerprint of one page's rows, to notice a server repeating itself."""
    return hashlib.blake2b(json.dumps(logins, sort_keys=True, default=str).encode(), digest_size=16).digest()


def fetch_slack(token: str, store_path: str | os.PathLike, raw_dir: str | os.PathLike, *,
                base_url: str | None = None, window_pages: int = WINDOW_PAGES, count: int = PAGE_SIZE,
                margin: pd.Timedelta = MARGIN, max_retries: int = MAX_RETRIES,
                max_pages: int = MAX_PAGES) -> FetchResult:
    """Fetch access logs newer than the store holds, save the pages, merge them into the store.

    Raises ``JobFailed`` with Slack's error name (``paid_only``, ``not_allowed_token_type``,
    ``ratelimited`` after ``max_retries``), when the API cannot be reached, when Slack asks
    to wait more than a minute, or when paging does not end (a repeated page, windows
    bringing nothing new, more than ``max_pages`` pages); pages saved before a failure
    stay in ``raw_dir`` and the store is left as it was.

    Examples:
        >>> import tempfile
        >>> fetch_slack("xoxp-example", tempfile.mkdtemp() + "/s.parquet", tempfile.mkdtemp(),
        ...             base_url="http://127.0.0.1:9/", max_retries=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        fleetanalysis.errors.JobFailed: Slack team.accessLogs failed: cannot reach http://127.0.0.1:9/ (...)
    """
    raw_dir = Path(raw_dir)
    cutoff = resume_after(store.read(store_path), margin)
    cutoff_unix = None if cutoff is None else cutoff.timestamp()
    api = slack.client(token, base_url, max_retries)
    run = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    result = FetchResult()
    before: int | None = None
    earlier: set[bytes] = set()  # the pages of earlier windows
    idle_windows = 0
    with tqdm(desc="Slack access logs", unit="page", disable=None) as bar:
        while True:
            oldest: float | None = None
            more_before = False
            window: set[bytes] = set()
            for page in range(1, window_pages + 1):
                if result.requests >= max_pages:
                    raise JobFailed(f"Slack team.accessLogs: more pages claimed after {max_pages} (--max-pages): "
                                    "stopped, the store is unchanged")
                data = _request(api, before, count, page)
                result.requests += 1
                logins = data.get("logins") if isinstance(data.get("logins"), list) else []
                digest = _digest(logins)
                if logins and digest in window:
                    raise JobFailed(f"Slack team.accessLogs: page {page} (before {before or 'now'}) repeats an "
                                    "earlier page: the server is not paging; stopped, the store is unchanged")
                window.add(digest)
                result.pages.append(write_text(raw_dir / page_name(run, before, page), json.dumps(data)))
                bar.update()
                firsts = _numbers(logins, "date_first")
                if firsts:
                    oldest = min(firsts) if oldest is None else min(oldest, *firsts)
                lasts = _numbers(logins, "date_last")
                if cutoff_unix is not None and lasts and max(lasts) < cutoff_unix:
                    break
                paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
                pages = paging.get("pages") or page
                if not logins:
                    break
                if page == window_pages:
                    # Slack may report no more than the window's pages even when older rows exist.
                    more_before = not isinstance(pages, (int, float)) or pages > page or len(logins) >= count
                if not isinstance(pages, (int, float)) or page >= pages:
                    break
            if not more_before or oldest is None:
                break
            # A window of one second comes back once (below); twice means `before` is ignored.
            idle_windows = 0 if window - earlier else idle_windows + 1
            if idle_windows >= 2:
                raise JobFailed(f"Slack team.accessLogs: two windows in a row (before {before}) brought no new "
                                "page: the server ignores 'before'; stopped, the store is unchanged")
            earlier |= window
            # `before` is inclusive: the boundary second comes back (the store dedupes it).
            next_before = int(oldest)
            before = next_before if before is None or next_before < before else before - 1
    loaded = sources.load(result.pages, format="slack_access")
    result.counts = store.merge(store_path, loaded)
    return result
