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
