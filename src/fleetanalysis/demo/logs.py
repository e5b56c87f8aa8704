"""The demo organisation's Slack sign-ins: the release tracks devices follow, one event
per client per day used, the user agents those clients really send, and the
``team.accessLogs`` rows and pages they add up to."""

from __future__ import annotations

import ipaddress
import re

import numpy as np
import pandas as pd

from fleetanalysis.codes import distinct_rows
from fleetanalysis.demo.people import (
    CLIENT_PRODUCT, DAY, DEVICE_CLASS, HOME_ISP, MOBILE_ISP, MOBILE_V4, OFFICES, OS_PRODUCT, SERVER_V4, TRAVEL_V4,
)
from fleetanalysis.errors import BadInput

PAGE_SIZE = 1000

# Products whose versions appear in the demo's user agents (macOS and Windows never do:
# every client on them freezes the OS token).
PRODUCTS = ("ios", "ipados", "android", "chrome", "edge", "firefox", "safari",
            "slack-desktop", "slack-ios", "slack-android")
# The demo's period ends where the catalog of these is complete; the other products join
# only when their catalog is complete that far too (else their clients are left out, as a
# version the catalog cannot vouch for would not be true).
CORE = ("ios", "android", "chrome", "safari", "firefox")
# The user agents are written in today's shapes, whose frozen tokens date from Chrome 101
# (2022) and 110 (February 2023); a period starting earlier would need older shapes.
SHAPES_SINCE = pd.Timestamp("2023-06-01")
# Slack's mobile apps, given a synthetic version track when the catalog cannot list them.
SYNTHETIC = ("slack-ios", "slack-android")
DESKTOP_TOKEN = {"mac": "Macintosh; Intel Mac OS X 10_15_7", "windows": "Windows NT 10.0; Win64; x64",
                 "linux": "X11; Linux x86_64"}
FIREFOX_TOKEN = {"mac": "Macintosh; Intel Mac OS X 10.15", "windows": "Windows NT 10.0; Win64; x64",
                 "linux": "X11; Ubuntu; Linux x86_64"}
# slack_sdk releases (version, date) for the scripts some staff run.
SLACK_SDK = (("3.21.3", "2023-05-09"), ("3.27.1", "2024-02-13"), ("3.33.1", "2024-09-19"),
             ("3.35.0", "2025-03-10"))
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"


def synthetic_track(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Made-up Slack mobile app releases in Slack's ``YY.MM.NN`` scheme, from before ``start`` to ``end``.

    Columns ``version`` and ``released``: a ``.10`` release on the 4th of each month and a
    ``.20`` on the 18th, about one a fortnight (Slack ships its mobile apps every week or
    two), for either app. The track starts four months before ``start`` so a lagging
    device has an older release to run. These versions are not Slack's real history: the
    demo uses them only because the catalog has no dated list to draw from.

    Examples:
        >>> synthetic_track(pd.Timestamp("2025-08-20"), pd.Timestamp("2025-08-31")).tail(2)
            version   released
        8  25.08.10 2025-08-04
        9  25.08.20 2025-08-18
    """
    months = pd.date_range((start - pd.DateOffset(months=4)).replace(day=1), end, freq="MS")
    released = pd.DatetimeIndex(sorted([*(months + pd.Timedelta(days=3)), *(months + pd.Timedelta(days=17))]))
    released = released[released <= end]
    versions = [f"{day:%y.%m}.{10 if day.day < 10 else 20}" for day in released]
    return pd.DataFrame({"version": versions, "released": released})


def access_log_pages(logins: pd.DataFrame) -> list[dict]:
    """The logins as ``team.accessLogs`` response pages, newest ``date_first`` first.

    Examples:
        >>> rows = pd.DataFrame({"user_id": ["U0ABCDEFGH"], "username": ["ana.silva"],
        ...     "date_first": [1700000000], "date_last": [1700003600], "count": [3],
        ...     "ip": ["192.0.2.1"], "user_agent": ["Mozilla/5.0"], "isp": [None],
        ...     "country": ["GB"], "region": ["England"]})
        >>> access_log_pages(rows)[0]["paging"]
        {'count': 1000, 'total': 1, 'page': 1, 'pages': 1}
        >>> access_log_pages(rows)[0]["logins"][0]["isp"] is None
        True
    """
    fields = ["user_id", "username", "date_first", "date_last", "count", "ip", "user_agent",
              "isp", "country", "region"]
    ordered = logins.sort_values(["date_first", "user_id", "ip", "user_agent"],
                                 ascending=[False, True, True, True], kind="stable")[fields]
    records = ordered.astype(object).where(ordered.notna(), None).to_dict("records")
    for record in records:
        for field in ("date_first", "date_last", "count"):
            record[field] = int(record[field])
    pages = max(1, -(-len(records) // PAGE_SIZE))
    # The real API stops at page 100 (100,000 logins); a larger demo still writes every
    # page, as an export paged with the `before` cursor would hold them all.
    return [{"ok": True,
             "logins": records[number * PAGE_SIZE:(number + 1) * PAGE_SIZE],
             "paging": {"count": PAGE_SIZE, "total": len(records), "page": number + 1, "pages": pages}}
            for number in range(pages)]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _tracks(catalog: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """Per (product, track): release days and versions a device steps through, oldest first.

    ``main`` takes every release that is newer than all before it; ``held`` does the same
    over the lines before the newest one (a device kept on the previous iOS). Only
    releases out by ``end`` count; a product with none before ``start`` is left out, and
    so are the devices and clients that would need it.
    """
    tracks = {}
    for product in PRODUCTS:
        rows = catalog[(catalog["product"].astype("str") == product) & (catalog["released"] <= end)]
        if rows.empty or rows["released"].min() > start:
            continue
        rows = rows.assign(_order=[_key(version) for version in rows["version"]])
        rows = rows.sort_values("released", kind="stable")
        newest_line = rows.loc[rows["_order"].idxmax(), "line"]
        for track, chosen in (("main", rows), ("held", rows[rows["line"] != newest_line])):
            days, versions, best = [], [], ()
            for released, version, order in zip(chosen["released"], chosen["version"], chosen["_order"]):
                if order > best:
                    best = order
                    days.append(int(pd.Timestamp(released).timestamp()) // DAY)
                    versions.append(version)
            if versions and days[0] <= int(start.timestamp()) // DAY:
                tracks[product, track] = (np.array(days), np.array(versions, dtype=object))
        if (product, "main") not in tracks:
            continue
        if (product, "held") not in tracks:
            tracks[product, "held"] = tracks[product, "main"]
        if product == "safari":
            tracks[product, "all"] = (np.array([int(pd.Timestamp(day).timestamp()) // DAY for day in rows["released"]]),
                                      rows["version"].to_numpy(dtype=object))
    if ("ios", "main") not in tracks:
        raise BadInput("catalog", "ios", f"no iOS release on or before the demo's start {start.date()} "
                       "(use fewer --weeks or a later --end)")
    return tracks


def _events(rng: np.random.Generator, people: pd.DataFrame, devices: pd.DataFrame,
            clients: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One row per client per day it was used: time, place and address."""
    first_day = int(start.timestamp()) // DAY
    days = np.arange(first_day, int(end.timestamp()) // DAY + 1)
    weekend = ((days + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    client_index = np.repeat(np.arange(len(clients)), len(days))
    day_index = np.tile(np.arange(len(days)), len(clients))
    use = np.where(weekend[day_index], clients["weekend"].to_numpy()[client_index],
                   clients["workday"].to_numpy()[client_index])
    used = rng.random(len(use)) < use
    client_index, day_index = client_index[used], day_index[used]
    device = clients["device"].to_numpy()[client_index]
    user = devices["user"].to_numpy()[device]
    office = people["office"].to_numpy()[user]
    country = people["country"].to_numpy()[user]
    kind = devices["kind"].to_numpy()[device]
    count = len(client_index)
    # Where the person is that day: one draw per person and day, shared by their devices.
    day_draw = np.random.default_rng([rng.integers(1 << 62), 0]).random((len(people), len(days)))
    at_office = (~weekend[day_index]) & (OFFICES["ipv4"].to_numpy()[office] != "") & \
        (day_draw[user, day_index] < people["in_office"].to_numpy()[user])
    travelling = day_draw[user, day_index] > 0.985
    mobile = np.isin(kind, ["iphone", "android"])
    cellular = mobile & (rng.random(count) < np.where(at_office, 0.25, 0.35))
    local_hour = np.where(weekend[day_index], rng.uniform(9, 22, count), rng.uniform(7.5, 19.5, count))
    offset = OFFICES["utc_offset"].to_numpy()[np.where(OFFICES["ipv4"].to_numpy()[office] == "", country, office)]
    when = (first_day + day_index) * DAY + ((local_hour - offset) * 3600).astype(np.int64)

    # Each office leaves the building through four NAT addresses.
    egress_table = np.array([[str(ipaddress.ip_network(net)[1 + number]) if net else "" for number in range(4)]
                             for net in OFFICES["ipv4"]], dtype=object)
    egress = egress_table[office, device % 4]
    moved = day_index / len(days) >= people["move_day"].to_numpy()[user]
    home = np.where(moved, people["moved_v4"].to_numpy()[user], people["home_v4"].to_numpy()[user])
    home_v6 = people["home_v6"].to_numpy()[user]
    home = np.where((home_v6 != "") & devices["prefers_v6"].to_numpy()[device], home_v6, home)
    carrier_slice = len(MOBILE_V4) // 5
    # Each phone sees a handful of its carrier's NAT addresses, not a new one every day.
    pool = (devices["mobile_pool"].to_numpy()[device] >> rng.integers(0, 3, count) * 4) % carrier_slice
    carrier = np.array(MOBILE_V4, dtype=object)[country * carrier_slice + pool]
    hotel = rng.integers(0, len(TRAVEL_V4), count)
    travel = np.array(TRAVEL_V4, dtype=object)[hotel]
    place = np.select([travelling, cellular, at_office], ["travel", "cellular", "office"], "home")
    ip = np.select([place == "travel", place == "cellular", place == "office"], [travel, carrier, egress], home)
    countries = OFFICES["country"].to_numpy()
    regions = OFFICES["region"].to_numpy()
    travel_country = hotel % 5
    isp = np.select([place == "travel", place == "cellular", place == "office"],
                    ["Hospitality Networks", np.array(MOBILE_ISP)[country], OFFICES["isp"].to_numpy()[office]],
                    np.array(HOME_ISP)[country])
    events = pd.DataFrame({
        "client_row": client_index, "device": device, "user": user, "when": when,
        "day": when // DAY, "ip": ip, "isp": isp,
        "country": np.where(place == "travel", countries[travel_country], countries[country]),
        "region": np.where(place == "travel", regions[travel_country], regions[country]),
        "count": 1 + rng.poisson(np.where(mobile, 4.0, 2.0), count),
    })
    # Local working hours can fall on the UTC day before or after; keep the period exact.
    return events[events["day"].between(days[0], days[-1])].reset_index(drop=True)


def _versions(events: pd.DataFrame, devices: pd.DataFrame, clients: pd.DataFrame, tracks: dict) -> pd.DataFrame:
    """The OS and client version each event ran: the newest release its delay lets it have,
    the delay after the nudge campaign from the device's ``update_day`` on."""
    day = events["day"].to_numpy()
    device = events["device"].to_numpy()
    after = day >= devices["update_day"].to_numpy()[device]
    kind = devices["kind"].to_numpy()[device]
    held = np.where(after, devices["held_after"].to_numpy()[device], devices["held"].to_numpy()[device])
    os_lag = np.where(after, devices["os_lag_after"].to_numpy()[device], devices["os_lag"].to_numpy()[device])
    os_version = _os_versions(tracks, kind, held, day, os_lag)
    client = clients["client"].to_numpy()[events["client_row"]]
    lag = np.where(after, clients["lag_after"].to_numpy()[events["client_row"]],
                   clients["lag"].to_numpy()[events["client_row"]])
    client_version = os_version.copy()
    for name, product in CLIENT_PRODUCT.items():
        chosen = client == name
        if product not in ("ios", "ipados") and chosen.any():
            client_version[chosen] = _step(tracks[product, "main"], day[chosen], lag[chosen])
    return events.assign(client=client, kind=kind, os_product=pd.Series(kind).map(OS_PRODUCT).to_numpy(),
                         os_version=os_version, client_product=pd.Series(client).map(CLIENT_PRODUCT).to_numpy(),
                         client_version=client_version)


def _os_versions(tracks: dict, kind: np.ndarray, held: np.ndarray, day: np.ndarray,
                 lag: np.ndarray) -> np.ndarray:
    """The OS version of each (device kind, held, day, delay); None for laptops (frozen tokens)."""
    version = np.full(len(kind), None, dtype=object)
    for device_kind, product in OS_PRODUCT.items():
        if (product, "main") not in tracks:
            continue
        for track in ("main", "held"):
            chosen = (kind == device_kind) & (held == (track == "held"))
            version[chosen] = _step(tracks[product, track], day[chosen], lag[chosen])
    return version


def _step(track: tuple, day: np.ndarray, lag: np.ndarray) -> np.ndarray:
    days, versions = track
    # Never reach back before the first listed release: the version must have existed.
    wanted = np.maximum(day - np.floor(lag).astype(np.int64), days[0])
    return versions[np.searchsorted(days, wanted, side="right") - 1]


def _scripts(rng: np.random.Generator, people: pd.DataFrame, start: pd.Timestamp,
             end: pd.Timestamp) -> pd.DataFrame:
    """Rows that are not devices: staff scripts on slack_sdk, an API app, Slackbot unfurls."""
    first_day = int(start.timestamp()) // DAY
    days = np.arange(first_day, int(end.timestamp()) // DAY + 1)
    sdk = [version for version, date in SLACK_SDK if pd.Timestamp(date) <= start] or [SLACK_SDK[0][0]]
    owners = rng.choice(len(people), size=min(len(people), max(3, len(people) // 60)), replace=False)
    app_id = "A0" + "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), size=9))
    agents = [f"Python/3.12.4 slackclient/{sdk[-1]} Linux/6.8.0-1021-aws",
              f"ApiApp/{app_id} Python/3.11.9 slackclient/{sdk[-1]} Linux/5.15.0-1066-aws", SLACKBOT]
    rows = []
    for number, user in enumerate(owners):
        agent = agents[number % len(agents)] if number < len(agents) else agents[0]
        active = days[rng.random(len(days)) < (0.2 if agent == SLACKBOT else 0.7)]
        rows.append(pd.DataFrame({
            "user": user, "when": active * DAY + rng.integers(0, DAY, len(active)), "day": active,
            "ip": SERVER_V4[(5 * number) % len(SERVER_V4)], "isp": "Example Cloud Hosting",
            "country": "US", "region": "Virginia", "count": rng.integers(5, 200, len(active)),
            "client": "sdk", "script_agent": agent,
        }))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _user_agents(events: pd.DataFrame, devices: pd.DataFrame, tracks: dict,
                 rng: np.random.Generator) -> np.ndarray:
    """Render each event's user agent, once per distinct (client, device shape, versions)."""
    device = events["device"].fillna(-1).astype(int).to_numpy()
    shape = pd.DataFrame({
        "client": events["client"].to_numpy(),
        "kind": np.where(device >= 0, devices["kind"].to_numpy()[device], ""),
        "model": np.where(device >= 0, devices["model"].to_numpy()[device], ""),
        "scale": np.where(device >= 0, devices["scale"].to_numpy()[device], ""),
        "os_version": events.get("os_version", pd.Series(None, index=events.index)).fillna("").to_numpy(),
        "client_version": events.get("client_version", pd.Series(None, index=events.index)).fillna("").to_numpy(),
        "script_agent": events.get("script_agent", pd.Series("", index=events.index)).fillna("").to_numpy(),
    })
    codes, distinct = distinct_rows(shape)
    electron = _electron(tracks)
    safari = _mobile_safari(tracks, shape.loc[shape["client"].isin(["safari-ios", "safari-ipad"]), "os_version"])
    rendered = np.array([_render(row, electron, safari) for row in distinct.to_dict("records")], dtype=object)
    agents = rendered[codes]
    # The Slack web client prefixes its build hash on some calls; a new build ships weekly.
    browser = np.isin(events["client"].to_numpy(), ["chrome", "chromium", "edge", "firefox", "safari-mac"])
    prefixed = browser & (rng.random(len(events)) < 0.12)
    builds = np.array([rng.bytes(20).hex() for _ in range(600)], dtype=object)
    build = builds[(events["day"].to_numpy() // 7) % len(builds)]
    return np.where(prefixed, "SlackWeb/" + build.astype(str) + " " + agents.astype(str), agents)


def _electron(tracks: dict) -> dict:
    """For each Slack desktop release, the Chrome it embeds: the newest even major out two weeks before."""
    if ("slack-desktop", "main") not in tracks:
        return {}
    chrome_days, chrome_versions = tracks["chrome", "main"]
    even = np.array([int(version.split(".")[0]) % 2 == 0 for version in chrome_versions])
    days, versions = tracks["slack-desktop", "main"]
    embedded = {}
    for day, version in zip(days, versions):
        usable = even & (chrome_days <= day - 14)
        chosen = chrome_versions[usable][-1] if usable.any() else chrome_versions[0]
        major = int(chosen.split(".")[0])
        # Electron reports the full Chrome build; a catalog that lists majors only vouches for N.0.0.0.
        chosen = chosen if chosen.count(".") == 3 else f"{major}.0.0.0"
        # Electron N ships Chromium 2N+64 since Electron 28 (Chromium 120).
        embedded[version] = (chosen, f"{max(major // 2 - 32, 1)}.0.0")
    return embedded


def _mobile_safari(tracks: dict, os_versions: pd.Series) -> dict:
    """The ``Version/`` Safari shows on each iOS/iPadOS version: the Safari of that major out by then.

    Late security releases of an old line keep the line's last Safari (iOS 16.7.x shows
    Version/16.6); without Safari in the catalog the OS's major.minor stands in.
    """
    released = {version: day for (product, _), (days, versions) in tracks.items()
                if product in ("ios", "ipados") for day, version in zip(days, versions)}
    safari_days, safari_versions = tracks.get(("safari", "all"), (np.array([], dtype=int), np.array([], dtype=object)))
    shown = {}
    for os_version in os_versions.unique():
        major = os_version.split(".")[0]
        same = [(_key(version), version) for day, version in zip(safari_days, safari_versions)
                if version.split(".")[0] == major and day <= released.get(os_version, -1)]
        chosen = max(same)[1] if same else os_version
        shown[os_version] = ".".join((chosen.split(".") + ["0"])[:2])
    return shown


def _render(row: dict, electron: dict, mobile_safari: dict) -> str:
    client, os_version, version = row["client"], row["os_version"], row["client_version"]
    if client == "sdk":
        return row["script_agent"]
    major = version.split(".")[0]
    if client == "slack-ios":
        return f"com.tinyspeck.chatlyio/{version} (iPhone; iOS {os_version}; Scale/{row['scale']})"
    if client == "slack-ipad":
        # The app keeps AFNetworking's user-agent format, whose "iOS" is literal on iPadOS too.
        return f"com.tinyspeck.chatlyio/{version} (iPad; iOS {os_version}; Scale/2.00)"
    if client == "slack-android":
        return f"com.Slack/{version} ({row['model']}; Android {os_version})"
    if client in ("safari-ios", "safari-ipad"):
        parts = os_version.split(".")
        safari = mobile_safari[os_version]
        if client == "safari-ipad":
            # iPadOS Safari asks for desktop sites, so it presents itself as a Mac.
            return ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                    f"(KHTML, like Gecko) Version/{safari} Safari/605.1.15")
        # From iOS 26 Safari freezes the OS token at 18_6; only Version/ tells the release.
        token = "18_6" if int(parts[0]) >= 26 else os_version.replace(".", "_")
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {token} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{safari} Mobile/15E148 Safari/604.1")
    if client == "chrome-android":
        # Chrome hid the Android version and model from 110 on; a laggard before that shows them.
        device = "Android 10; K" if int(major) >= 110 else f"Android {os_version}; {row['model']}"
        return (f"Mozilla/5.0 (Linux; {device}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.0.0 Mobile Safari/537.36")
    token = DESKTOP_TOKEN.get(row["kind"], DESKTOP_TOKEN["windows"])
    if client == "slack-desktop":
        chrome, electron_version = electron[version]
        return (f"Mozilla/5.0 ({token}) AppleWebKit/537.36 (KHTML, like Gecko) Slack/{version} "
                f"Chrome/{chrome} Electron/{electron_version} Safari/537.36 Slack_SSB/{version}")
    if client in ("chrome", "chromium"):
        return f"Mozilla/5.0 ({token}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
    if client == "edge":
        return (f"Mozilla/5.0 ({token}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 "
                f"Safari/537.36 Edg/{major}.0.0.0")
    if client == "firefox":
        return f"Mozilla/5.0 ({FIREFOX_TOKEN[row['kind']]}; rv:{major}.0) Gecko/20100101 Firefox/{major}.0"
    if client == "safari-mac":
        return (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{version} Safari/605.1.15")
    raise ValueError(f"no user agent for client {client!r}")


def _logins(events: pd.DataFrame, people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Aggregate events to access-log rows: one per user + IP + user agent."""
    events = events.sort_values("when", kind="stable")
    keys = ["user", "ip", "user_agent"]
    grouped = events.groupby(keys, sort=True)
    logins = grouped.agg(date_first=("when", "min"), date_last=("when", "max"), count=("count", "sum"),
                         isp=("isp", "first"), country=("country", "first"), region=("region", "first"),
                         client=("client", "first"), os_product=("os_product", "first"),
                         os_version=("os_version", "first"), client_product=("client_product", "first"),
                         client_version=("client_version", "first"), device=("device", "first"),
                         kind=("kind", "first")).reset_index()
    # Slack cannot place some addresses; it then leaves isp, country and region empty.
    addresses = np.sort(logins["ip"].unique())
    unplaced = set(addresses[rng.random(len(addresses)) < 0.04])
    blank = logins["ip"].isin(unplaced)
    for column in ("isp", "country", "region"):
        logins[column] = logins[column].where(~blank & logins[column].ne(""), None)
    logins["user_id"] = people["user_id"].to_numpy()[logins["user"]]
    logins["username"] = people["username"].to_numpy()[logins["user"]]
    logins["device_class"] = logins["kind"].map(DEVICE_CLASS)
    device = logins["device"]
    logins["device_id"] = device.map(lambda number: f"D{int(number):05d}" if pd.notna(number) else None)
    columns = ["user_id", "username", "date_first", "date_last", "count", "ip", "user_agent", "isp",
               "country", "region", "device_id", "kind", "device_class", "os_product", "os_version",
               "client", "client_product", "client_version"]
    logins = logins[columns].astype({"date_first": "int64", "date_last": "int64", "count": "int64"})
    return logins.sort_values(["date_first", "user_id", "ip", "user_agent"], ascending=[False, True, True, True],
                              kind="stable").reset_index(drop=True)
