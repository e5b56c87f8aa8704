"""Microsoft Entra ID sign-ins, one row per sign-in, in the shapes Microsoft exports them.

- Graph ``auditLogs/signIns``: a response page ``{"value": [...], "@odata.nextLink": ...}``,
  a list of pages, or NDJSON of sign-ins (camelCase fields).
- Azure Monitor (diagnostic settings to an Event Hub or a storage account):
  ``{"records": [{"time", "category": "SignInLogs", "properties": {...sign-in...}}]}``, or
  one record per line as storage accounts write ``PT1H.json``. The sign-in is
  ``properties``; records of other categories (``AuditLogs``) are rejected with that reason,
  and service-principal and managed-identity sign-ins as carrying no device.
- Log Analytics' ``SigninLogs`` table exported as JSON rows or CSV, or as the query API
  returns it (``{"tables": [{"columns": [{"name"...}], "rows": [[...]]}]}``): PascalCase
  columns, ``TimeGenerated``, ``DeviceDetail`` as a JSON string, CSV headers like
  ``TimeGenerated [UTC]``; a header whose times are in another zone (``[Local Time]``) is
  refused (``header_problem``), since every row would be shifted.

Fields: ``id``, ``createdDateTime``, ``userPrincipalName``, ``userId``, ``ipAddress``,
``userAgent`` (Graph v1.0 never returns it; beta and Azure Monitor do) and
``deviceDetail{operatingSystem, browser, displayName, isManaged, isCompliant, trustType}``
and ``status.errorCode`` (Log Analytics: ``ResultType``): a sign-in whose code is not 0
failed or was interrupted, and is rejected as a failed sign-in (an attempt is no evidence
of the user's device; a completed sign-in from the same device follows an interruption).
``operatingSystem`` is kept as reported (``Windows10``, ``Ios``); a version in it is kept
unless it only echoes a frozen user-agent token (``Windows 10``). ``browser`` is split
into name and version (``Edge 80.0.361``). ``reported_from`` names the fields used.

Examples:
    >>> page = {"value": [{"id": "s1", "createdDateTime": "2024-05-01T10:00:00Z",
    ...     "userPrincipalName": "ann@example.com", "userId": "oid-1", "ipAddress": "192.0.2.1",
    ...     "deviceDetail": {"operatingSystem": "Ios", "browser": "Mobile Safari", "isManaged": False}}]}
    >>> matches(page)
    True
    >>> from fleetanalysis.sources.schema import flatten
    >>> row = candidates(flatten(rows(page), FIELDS)).iloc[0]
    >>> row["user"], row["reported_os"], row["reported_browser"], bool(row["managed"])
    ('ann@example.com', 'Ios', 'Mobile Safari', False)
"""

from __future__ import annotations

import json

import pandas as pd

from fleetanalysis.sources.schema import (ISO_TIMES, any_row, failed_attempt, failed_code, field, from_iso, pick,
                                          provenance, split_browser, stated_version, time_problems, true_or_false,
                                          version_number, zone_problem)

# Log Analytics SigninLogs column -> Graph signIn field.
_LOG_ANALYTICS = {
    "Id": "id", "CreatedDateTime": "createdDateTime", "TimeGenerated": "timeGenerated", "UserId": "userId",
    "UserPrincipalName": "userPrincipalName", "UserDisplayName": "userDisplayName", "IPAddress": "ipAddress",
    "UserAgent": "userAgent", "DeviceDetail": "deviceDetail", "Category": "category", "ResultType": "resultType",
}
DEVICE = ["operatingSystem", "browser", "displayName", "isManaged", "isCompliant", "trustType"]
# The fields read from each record (dotted paths into nested objects). Log Analytics'
# PascalCase columns are renamed to these by ``graph_columns``.
FIELDS = [
    "id", "createdDateTime", "userId", "userPrincipalName", "userDisplayName", "ipAddress",
    "userAgent", "category", "deviceDetail", *[f"deviceDetail.{name}" for name in DEVICE], "status.errorCode",
    *_LOG_ANALYTICS,
]
FORMAT = "entra"
_PORTAL_TIME = "%m/%d/%Y, %I:%M:%S.%f %p"
# Azure Monitor categories that hold sign-ins by people, and those that hold sign-ins by
# applications (no device, no user agent, by design).
_PEOPLE = {"SignInLogs", "NonInteractiveUserSignInLogs", "ADFSSignInLogs"}
_SERVICES = {"ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs", "MicrosoftServicePrincipalSignInLogs"}


def _is_record(doc: dict) -> bool:
    """True for an Azure Monitor resource-log record holding a sign-in."""
    return isinstance(doc.get("properties"), dict) and ("category" in doc or "operationName" in doc) \
        and str(doc.get("category", "SignInLogs")).endswith("SignInLogs")


def matches(doc: object) -> bool:
    """True for a Graph page, an Azure Monitor envelope or record, a Log Analytics row, or a sign-in.

    Examples:
        >>> matches({"@odata.context": "x", "value": []}), matches({"createdDateTime": "x", "userPrincipalName": "a"})
        (True, True)
        >>> matches({"records": []}), matches({"time": "x", "category": "SignInLogs", "properties": {}})
        (True, True)
        >>> matches({"TimeGenerated": "x", "UserPrincipalName": "a", "Type": "SigninLogs"})
        True
    """
    if isinstance(doc, list):
        return any_row(doc, matches)
    if not isinstance(doc, dict):
        return False
    records = doc.get("records")
    if isinstance(records, list):
        # A hub may carry several categories: any sign-in record makes it a sign-in log.
        return not records or any(isinstance(record, dict) and _is_record(record) for record in records)
    tables = doc.get("tables")
    if isinstance(tables, list):
        return any(matches_header(_table_columns(table)) for table in tables)
    return (isinstance(doc.get("value"), list) or {"createdDateTime", "userPrincipalName"} <= doc.keys()
            or _is_record(doc) or matches_header(list(doc)))


def matches_header(columns: list[str]) -> bool:
    """True for the columns of a Log Analytics ``SigninLogs`` export (CSV header or JSON row).

    Examples:
        >>> matches_header(["TimeGenerated [UTC]", "UserPrincipalName", "UserAgent", "DeviceDetail"])
        True
        >>> matches_header(["time", "user", "ua"])
        False
    """
    names = {_column_name(column) for column in columns}
    return "UserPrincipalName" in names and bool({"TimeGenerated", "CreatedDateTime"} & names)


def header_problem(columns: list[str]) -> str | None:
    """Why a Log Analytics CSV cannot be read: its time columns are not in UTC (the portal
    writes ``TimeGenerated [Local Time]`` when it displays local time); None when they are.

    Examples:
        >>> header_problem(["TimeGenerated [Local Time]", "UserPrincipalName"])
        "column 'TimeGenerated [Local Time]' holds times in Local Time, not UTC; export it again with the time zone set to UTC"
        >>> header_problem(["TimeGenerated [UTC]", "UserPrincipalName"]) is None
        True
    """
    times = [column for column in columns if _column_name(column) in ("TimeGenerated", "CreatedDateTime")]
    return next((problem for problem in map(zone_problem, times) if problem is not None), None)


def _table_columns(table: object) -> list[str]:
    """The column names of one table of a Log Analytics query API response."""
    columns = table.get("columns") if isinstance(table, dict) else None
    return [column.get("name") for column in columns if isinstance(column, dict)] if isinstance(columns, list) else []


def _table_rows(table: object) -> list:
    """The rows of one table of a Log Analytics query API response, as objects by column name."""
    names = _table_columns(table)
    found = table.get("rows") if isinstance(table, dict) else None
    return [dict(zip(names, row)) if isinstance(row, list) else row for row in found] if isinstance(found, list) else []


def _column_name(column: str) -> str:
    """A Log Analytics export header without its unit (``TimeGenerated [UTC]``)."""
    return str(column).split(" [", 1)[0].strip()


def _sign_in(record: object) -> object:
    """The sign-in an Azure Monitor record holds, with the envelope's time, IP and category as
    fallbacks; anything else unchanged."""
    if not (isinstance(record, dict) and _is_record(record)):
        return record
    found = dict(record["properties"])
    found.setdefault("createdDateTime", record.get("time"))
    found.setdefault("ipAddress", record.get("callerIpAddress"))
    found["category"] = record.get("category")
    return found


def rows(doc: object) -> list:
    """The sign-ins of a page, a list of pages, an Azure Monitor envelope or record, or one sign-in.

    Examples:
        >>> len(rows([{"value": [{}]}, {"value": [{}, {}]}]))
        3
        >>> rows({"records": [{"time": "t", "category": "SignInLogs", "properties": {"id": "s1"}}]})
        [{'id': 's1', 'createdDateTime': 't', 'ipAddress': None, 'category': 'SignInLogs'}]
    """
    if isinstance(doc, list):
        return [row for page in doc for row in rows(page)]
    if isinstance(doc, dict):
        for key in ("value", "records"):
            if isinstance(doc.get(key), list):
                return [_sign_in(row) for row in doc[key]]
        if isinstance(doc.get("tables"), list):
            return [row for table in doc["tables"] for row in _table_rows(table)]
    return [_sign_in(doc)]


def _device_detail(values: pd.Series) -> pd.DataFrame:
    """The ``deviceDetail`` fields of a column of objects or JSON text (Log Analytics)."""
    def parsed(cell: object) -> dict:
        if isinstance(cell, str) and cell.strip().startswith("{"):
            try:
                cell = json.loads(cell)
            except (ValueError, RecursionError):
                return {}
        return cell if isinstance(cell, dict) else {}

    details = values.astype("object").map(parsed).tolist()
    return pd.DataFrame({f"deviceDetail.{name}": pd.Series([detail.get(name) for detail in details],
                                                            index=values.index, dtype="object")
                         for name in DEVICE}, index=values.index)


def graph_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Log Analytics columns renamed to Graph fields, ``DeviceDetail`` text expanded.

    Graph and Azure Monitor rows pass through; rows of both kinds in one frame are merged.

    Examples:
        >>> frame = pd.DataFrame({"TimeGenerated [UTC]": ["2024-05-01T10:00:00Z"],
        ...     "DeviceDetail": ['{"operatingSystem": "MacOs", "browser": "Chrome 124.0.0"}']})
        >>> graph_columns(frame)[["timeGenerated", "deviceDetail.operatingSystem"]].iloc[0].tolist()
        ['2024-05-01T10:00:00Z', 'MacOs']
    """
    frame = frame.copy()
    for column in list(frame.columns):
        graph = _LOG_ANALYTICS.get(_column_name(column))
        if graph is None:
            continue
        values = frame.pop(column)
        frame[graph] = frame[graph].where(frame[graph].notna(), values) if graph in frame.columns else values
    if "deviceDetail" in frame.columns:
        expanded = _device_detail(frame["deviceDetail"])
        for column in expanded.columns:
            frame[column] = (frame[column].fillna(expanded[column]) if column in frame.columns
                             else expanded[column])
    return frame


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened sign-ins or Log Analytics rows.

    Examples:
        >>> candidates(pd.DataFrame({"createdDateTime": ["2024-05-01T10:00:00Z"]}))["count"].tolist()
        [1]
    """
    frame = graph_columns(frame)
    stamp = pick(frame, "createdDateTime", "timeGenerated")
    when = from_iso(stamp)
    if when.isna().any():
        # The Azure portal's CSV export writes US-style times under "TimeGenerated [UTC]".
        portal = pd.to_datetime(stamp.where(when.isna()), format=_PORTAL_TIME, utc=True, errors="coerce")
        when = when.fillna(portal.astype(when.dtype))
    system = pick(frame, "deviceDetail.operatingSystem")
    version, frozen = stated_version(system, version_number(system))
    browser, browser_version = split_browser(pick(frame, "deviceDetail.browser"))
    model = pick(frame, "deviceDetail.displayName")
    managed = true_or_false(field(frame, "deviceDetail.isManaged"))
    compliant = true_or_false(field(frame, "deviceDetail.isCompliant"))
    trust = pick(frame, "deviceDetail.trustType")
    category = pick(frame, "category")
    problem = ("Azure Monitor " + category + " record, not a sign-in").where(
        category.notna() & ~category.isin(_PEOPLE | _SERVICES))
    problem = problem.fillna(("sign-in by an application (" + category + "): no device by design").where(
        category.isin(_SERVICES)))
    code = pick(frame, "status.errorCode", "resultType")
    problem = problem.fillna(failed_attempt(failed_code(code), code, "error "))
    return pd.DataFrame({
        "source": FORMAT,
        "event_id": pick(frame, "id"),
        "user_id": pick(frame, "userId"),
        "user": pick(frame, "userPrincipalName", "userDisplayName"),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, "ipAddress"),
        "user_agent": pick(frame, "userAgent"),
        "reported_os": system,
        "reported_os_version": version,
        "reported_browser": browser,
        "reported_browser_version": browser_version,
        "device_model": model,
        "managed": managed,
        "compliant": compliant,
        "trust_type": trust,
        "reported_from": provenance([
            ("os", system.notna(), "deviceDetail.operatingSystem"),
            ("os_version", version.notna(), "deviceDetail.operatingSystem"),
            ("os_version frozen", frozen, "deviceDetail.operatingSystem"),
            ("browser", browser.notna(), "deviceDetail.browser"),
            ("model", model.notna(), "deviceDetail.displayName"),
            ("managed", managed.notna(), "deviceDetail.isManaged"),
            ("compliant", compliant.notna(), "deviceDetail.isCompliant"),
            ("trust_type", trust.notna(), "deviceDetail.trustType"),
        ], frame.index),
        "problem": problem,
        "time_problem": time_problems(when, stamp, "createdDateTime" if "createdDateTime" in frame.columns
                                      else "TimeGenerated", f"{ISO_TIMES}, or the portal's 5/1/2024, 9:00:00.000 AM"),
    }, index=frame.index)
