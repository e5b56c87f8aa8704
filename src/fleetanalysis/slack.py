"""One home for talking to Slack: the token, the client and its retry rules, error text.

``fetch`` (team.accessLogs) and ``nudges`` (DMs) both go through ``client``. Its retry
rules follow one principle: a request is repeated only when repeating it cannot do a
thing twice. A refused request (429) and a connection that failed before the request
was sent are retried for every method; a server error (5xx) or an answer lost after the
request left are retried only for methods that read, never for ``chat.postMessage``,
because Slack may have posted before it failed (slack_sdk's own server-error and
connection-error handlers would post again). The caller then sees the error and treats
the message as unconfirmed.

Slack's ``Retry-After`` is read defensively (``retry_after``): a wait longer than
``MAX_WAIT`` is not slept through; the run stops with ``WaitTooLong`` and the next run
carries on.

Examples:
    >>> retry_after("abc"), retry_after("-5"), retry_after("30"), retry_after("1000000")
    (1.0, 0.0, 30.0, 1000000.0)
"""

from __future__ import annotations

import math
import os
import re
import time
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from fleetanalysis.errors import BadInput, JobFailed

RETRIES = 3
TIMEOUT = 30
# A rate limit's wait when Slack gives none we can read; Slack's own tier waits are seconds.
DEFAULT_WAIT = 1.0
# Longer than this and a run would look hung: stop instead, the next run resumes.
MAX_WAIT = 60.0
# Methods whose repetition a person would see: never repeated after Slack may have acted.
WRITES = frozenset({"chat.postMessage"})
SERVER_ERRORS = frozenset({500, 502, 503, 504})
# Slack's error names are snake_case; anything else (a proxy's HTML page) is not worth echoing.
_ERROR_NAME = re.compile(r"[a-z0-9_.]{1,80}")
_NOT_JSON = "Received a response in a non-JSON format"


class WaitTooLong(JobFailed):
    """Slack asked to wait longer than ``MAX_WAIT``: the run stops, the next one resumes."""

    def __init__(self, method: str, seconds: float, cap: float = MAX_WAIT) -> None:
        super().__init__(f"Slack {method} asks to wait {seconds:.0f} s (more than {cap:.0f} s): "
                         f"stopped here; run again later to carry on")
        self.method, self.seconds = method, seconds


class UnexpectedAnswer(JobFailed):
    """Slack answered without something the caller needs (``channel.id``, a JSON object)."""

    def __init__(self, method: str, missing: str) -> None:
        super().__init__(f"Slack {method} answered without {missing}")


def field(answer: object, method: str, *path: str) -> str:
    """The text at ``path`` in a Slack answer; ``UnexpectedAnswer`` when it is missing.

    Examples:
        >>> field({"ok": True, "channel": {"id": "D0ANA0001"}}, "conversations.open", "channel", "id")
        'D0ANA0001'
        >>> field({"ok": True}, "conversations.open", "channel", "id")
        Traceback (most recent call last):
        fleetanalysis.slack.UnexpectedAnswer: Slack conversations.open answered without channel.id
    """
    value = getattr(answer, "data", answer)
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise UnexpectedAnswer(method, ".".join(path))
    return value


# What a call to Slack can end in short of an answer: for a batch of calls, one item's failure.
FAILURES = (SlackClientError, OSError, HTTPException, UnexpectedAnswer)


def token_from_env(name: str, kind: str, what: str = "Slack token") -> str:
    """The Slack token (or other secret, ``what``) in environment variable ``name``;
    ``BadInput`` when it is unset or not one line of printable text (never quoting it).
    ``kind`` says what to set it to.

    Examples:
        >>> token_from_env("FLEETANALYSIS_SURELY_UNSET", "a bot token (xoxb-...)")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: $FLEETANALYSIS_SURELY_UNSET: no Slack token: set it to a bot token (xoxb-...)
    """
    token = os.environ.get(name, "").strip()
    if not token:
        raise BadInput(f"${name}", f"no {what}", f"set it to {kind}")
    if not token.isprintable() or " " in token:
        # A wrapped paste or a quoted multi-line value: no HTTP header can carry it (nor
        # match a signature), and the error http.client raises would quote it whole.
        raise BadInput(f"${name}", f"the {what} holds a line break, space or control character",
                       f"set it to {kind} on one line")
    return token


def retry_after(value: object, default: float = DEFAULT_WAIT) -> float:
    """Seconds to wait from a ``Retry-After`` value: a number of seconds or an HTTP date.

    Unreadable text gives ``default``, a negative number or a past date 0; the result
    is never NaN or infinite (the caller decides what is too long).

    Examples:
        >>> retry_after(None), retry_after("2.5"), retry_after("inf"), retry_after("Wed, 21 Oct 2015 07:28:00 GMT")
        (1.0, 2.5, 1.0, 0.0)
    """
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return default
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return default
    if not math.isfinite(seconds):
        return default
    return max(seconds, 0.0)


def method_of(request: HttpRequest) -> str:
    """The Web API method a request calls (``chat.postMessage``), from its URL."""
    return request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class _RateLimited(RetryHandler):
    """429: wait as long as Slack asks, read defensively; longer than ``cap`` stops the run."""

    def __init__(self, max_retry_count: int, cap: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.cap = cap

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and response.status_code == 429

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        headers = response.headers if response is not None else {}
        value = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
        seconds = retry_after(value)
        if seconds > self.cap:
            raise WaitTooLong(method_of(request), seconds, self.cap)
        time.sleep(seconds)
        state.next_attempt_requested = True
        state.increment_current_attempt()


class _ServerError(RetryHandler):
    """5xx: retried for methods that read; a write may have been done before the error."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return (response is not None and response.status_code in SERVER_ERRORS
                and method_of(request) not in WRITES)


class _ConnectionError(RetryHandler):
    """A connection that failed before the request was sent is retried for every method;
    one lost while waiting for the answer, only for methods that read.

    urllib raises ``URLError`` for failures while connecting and sending, and the bare
    error (``RemoteDisconnected``, ``ConnectionResetError``, a timeout) once the request
    has gone and the answer is awaited.
    """

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if error is None or response is not None:
            return False
        if not_sent(error):
            return True
        return method_of(request) not in WRITES and isinstance(error, (OSError, HTTPException))


def not_sent(error: BaseException) -> bool:
    """Whether ``error`` proves that the request never reached Slack (so nothing was done)."""
    return isinstance(error, URLError) and not isinstance(error, HTTPError)


class _WebClient(WebClient):
    """slack_sdk's client, with an answer that is JSON but not an object (a list, a string)
    made an ``UnexpectedAnswer``: slack_sdk's own check trips over it with AttributeError."""

    def api_call(self, api_method: str, **kwargs):
        try:
            return super().api_call(api_method, **kwargs)
        except AttributeError:
            raise UnexpectedAnswer(api_method, "a JSON object") from None


def client(token: str, base_url: str | None = None, retries: int = RETRIES, max_wait: float = MAX_WAIT,
           timeout: int = TIMEOUT) -> WebClient:
    """A slack_sdk WebClient with the retry rules above, each bounded by ``retries``.

    Examples:
        >>> client("xoxb-example", "http://127.0.0.1:9").base_url
        'http://127.0.0.1:9/'
    """
    base_url = base_url or WebClient.BASE_URL
    return _WebClient(token=token, base_url=base_url if base_url.endswith("/") else base_url + "/",
                     timeout=timeout,
                     retry_handlers=[_RateLimited(retries, max_wait), _ServerError(max_retry_count=retries),
                                     _ConnectionError(max_retry_count=retries)])


def error_name(error: Exception) -> str:
    """Slack's error name for a failed call (``not_allowed_token_type``), else ``HTTP <status>``
    or the exception's type: never the token, never a proxy's page.

    Examples:
        >>> error_name(TimeoutError("timed out"))
        'TimeoutError'
    """
    if isinstance(error, SlackApiError):
        data = error.response.data
        reason = data.get("error") if isinstance(data, dict) else None
        if isinstance(reason, str) and _ERROR_NAME.fullmatch(reason):
            return reason
        return f"HTTP {error.response.status_code}"
    return type(error).__name__


def refused(error: Exception) -> bool:
    """Whether Slack's answer to a call proves it did nothing: a 429, a JSON ``ok: false``
    in a 2xx/4xx answer, or a request that never left. A 5xx, a lost answer or a body
    that is not JSON (a proxy's page) proves nothing.

    Examples:
        >>> refused(URLError(ConnectionRefusedError(111, "Connection refused")))
        True
        >>> refused(ConnectionResetError(104, "Connection reset by peer"))
        False
    """
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        data = error.response.data
        reason = data.get("error") if isinstance(data, dict) else None
        # slack_sdk stands in this text for a body it could not parse as JSON.
        answered = (isinstance(data, dict) and data.get("ok") is False
                    and not (isinstance(reason, str) and reason.startswith(_NOT_JSON)))
        return status == 429 or (status < 500 and answered)
    return isinstance(error, SlackRequestError) or not_sent(error)
