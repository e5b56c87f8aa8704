"""The records of a saved API answer: one page, a list of pages (as ``fetch`` saves them), or one record.

Paged JSON APIs put a page's records in a list under one key (Slack's ``logins`` and
``entries``); a file may hold one such page, a JSON list of them, or a single record
(NDJSON). Format modules name their key and get the records, whatever the shape.

Examples:
    >>> len(records([{"logins": [{}, {}]}, {"logins": [{}]}], "logins"))
    3
    >>> records({"logins": {"user_id": "U1"}}, "logins"), records({"user_id": "U1"}, "logins")
    ([{'user_id': 'U1'}], [{'user_id': 'U1'}])
"""

from __future__ import annotations


def records(doc: object, key: str) -> list:
    """The records under ``key`` of a page or of each page of a list; a document without
    ``key`` is one record."""
    if isinstance(doc, list):
        return [row for page in doc for row in records(page, key)]
    if isinstance(doc, dict) and key in doc:
        found = doc[key]
        return found if isinstance(found, list) else [found]
    return [doc]


# Where a saved page that is an API error answer says so: {"ok": false, "error": "paid_only"}.
ERROR_FIELDS = ["ok", "error"]


def error_answers(frame):
    """Per flattened record, the reason it is rejected when it is a Slack error answer
    (``ok`` false) saved among the pages, else NA: such a page holds no rows.

    Examples:
        >>> import pandas as pd
        >>> error_answers(pd.DataFrame({"ok": [False, None], "error": ["paid_only", None]})).tolist()
        ["a Slack error answer ('paid_only'), not a log row: nothing was fetched for that page", nan]
    """
    import pandas as pd

    ok = frame["ok"] if "ok" in frame else pd.Series(None, index=frame.index, dtype="object")
    said = (frame["error"] if "error" in frame else pd.Series(None, index=frame.index, dtype="object")).astype("object")
    failed = ok.map(lambda value: value is False)
    text = "a Slack error answer (" + said.map(lambda error: repr(str(error)[:80])) + "), not a log row: " \
        "nothing was fetched for that page"
    return text.where(failed)


def error_of(doc: object) -> str | None:
    """The errors a Slack error answer (or a list holding only those) names, else None.

    Examples:
        >>> error_of({"ok": False, "error": "missing_scope"}), error_of({"ok": True, "logins": []})
        ("'missing_scope'", None)
        >>> error_of([{"ok": False, "error": "paid_only"}, {"ok": False, "error": "ratelimited"}])
        "'paid_only', 'ratelimited'"
    """
    pages = doc if isinstance(doc, list) else [doc]
    if pages and all(isinstance(page, dict) and page.get("ok") is False for page in pages):
        named = dict.fromkeys(str(page.get("error", "no error named"))[:80] for page in pages)
        return ", ".join(map(repr, list(named)[:5]))
    return None

