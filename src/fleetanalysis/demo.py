"""A synthetic organisation, written as the real files a security team would have.

``fleetanalysis demo`` writes, under ``data/demo/`` by default:

``slack/access_logs_page_NNN.json``
    Slack ``team.accessLogs`` response pages: ``{"ok": true, "logins": [...], "paging":
    {"count": 1000, "total", "page", "pages"}}``, 1,000 logins a page, newest
    ``date_first`` first as the API orders them. Each login is one user + IP + user agent
    with ``date_first``/``date_last`` (unix seconds) and a ``count`` of sign-ins; a few
    rows have no ``isp``/``country``/``region``, as when Slack cannot place an address.
``directory.csv``
    ``user_id, email, office, department, ownership, exempt_until`` (docs/pipeline.md
    section 6); a few users (guests) are missing, as in a real export.
``networks.csv``
    ``cidr, office``: each office's egress networks (IPv4 and IPv6).
``README.md``
    What the data is, its period, its nudge date and its seed.

The organisation: offices in London, Berlin, New York, Singapore and São Paulo plus
remote staff, each office with its own update habit (Berlin fastest, São Paulo slowest).
Every user has a phone (mostly iPhone, some Android), usually a laptop (mostly Mac, some
Windows, a few Linux) and sometimes an iPad. Devices run the Slack app and browsers, with
the user agents those clients really send, frozen tokens included: Chrome and Edge say
``Windows NT 10.0``, ``Mac OS X 10_15_7``, ``Android 10; K`` and ``Chrome/NNN.0.0.0``;
Safari on iOS 26 says ``iPhone OS 18_6``; an iPad's Safari claims to be a Mac. A few
rows come from scripts (``slack_sdk``, ``ApiApp/``) and Slackbot, which are not devices.

Every version in a user agent, but a synthetic Slack mobile version (below), is a release
from ``catalog.load()`` that existed on the day of the sign-in. A device follows its
product's releases a device-specific delay behind (iOS updates wait for Wi-Fi and a charger: most within one to three weeks, a tail
for months; distribution Chromium on Linux trails Chrome by weeks). About a fifth of the
phones are outdated at the start; a nudge campaign two thirds into the period makes most
laggards catch up. Each update gives a new login row (a new user agent) while the old
row keeps its older ``date_last``. Addresses come from the documentation ranges
(RFC 5737, RFC 3849); e-mail addresses use ``example.com`` (RFC 2606).

The Slack mobile apps' own versions may be SYNTHETIC. Those apps are how most people use
Slack on a phone, and the only clients on Android that carry the true OS version (Chrome
sends ``Android 10; K``), so the demo always includes them. When the catalog has no
dated list of an app's releases up to the end date (Slack for iOS today), the app steps
through a made-up track in Slack's public scheme: ``YY.MM.NN``, a ``.10`` release early
in each month and a ``.20`` mid-month (``25.08.10``, ``25.08.20``). The analysis judges
those app versions unknown (not in the catalog); the OS versions the apps carry are real
catalog releases, judged like every other. ``Organisation.synthetic`` and the README
name the products concerned.

The default end date is the earliest date up to which the catalog lists every release
of iOS, Android, Chrome, Safari and Firefox, so the output is the same for a given seed
and package version. Another product the catalog does not list completely up to that
date (Edge or iPadOS, while the catalog grows) is left out with its clients, and the
README says so.

Examples:
    >>> import pathlib, tempfile
    >>> written = write(pathlib.Path(tempfile.mkdtemp()), users=8, weeks=2, seed=1)
    >>> sorted(written)
    ['directory', 'networks', 'readme', 'slack']
    >>> import json
    >>> page = json.loads(written["slack"][0].read_text())
    >>> sorted(page), sorted(page["paging"])
    (['logins', 'ok', 'paging'], ['count', 'page', 'pages', 'total'])
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from fleetanalysis import catalog as releases
from fleetanalysis.config import DEMO_DIR, DEMO_STORE
from fleetanalysis.errors import BadInput
from fleetanalysis.writing import write_csv, write_text

PAGE_SIZE = 1000
DAY = 86_400

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

# office, country, region, UTC offset, egress IPv4, IPv6, share of staff, lag factor, ISP
OFFICES = pd.DataFrame.from_records([
    ("London", "GB", "England", 0, "192.0.2.0/26", "2001:db8:10::/48", 0.25, 1.0, "Albion Business Fibre"),
    ("Berlin", "DE", "Berlin", 1, "192.0.2.64/26", "2001:db8:20::/48", 0.16, 0.6, "Spree Netz Business"),
    ("New York", "US", "New York", -5, "192.0.2.128/26", "2001:db8:30::/48", 0.22, 0.9, "Hudson Enterprise"),
    ("Singapore", "SG", "Singapore", 8, "192.0.2.192/26", "2001:db8:40::/48", 0.10, 0.8, "Merlion Fibre Biz"),
    ("São Paulo", "BR", "Sao Paulo", -3, "198.51.100.0/26", "2001:db8:50::/48", 0.13, 1.7, "Paulista Corporativo"),
    ("Remote", "", "", 0, "", "", 0.14, 1.3, ""),
], columns=["office", "country", "region", "utc_offset", "ipv4", "ipv6", "share", "lag_factor", "isp"])

# Per country (in OFFICES order): home broadband and mobile carrier names.
HOME_ISP = ("Albion Broadband", "Spree Netz", "Hudson Cable", "Merlion Home", "Paulista Net")
MOBILE_ISP = ("Albion Mobile", "Spree Funk", "Hudson Wireless", "Merlion Mobile", "Paulista Movel")
# Home broadband shares 198.51.100.64-255 and mobile carriers 203.0.113.0/25, split by country.
HOME_V4 = [str(address) for address in ipaddress.ip_network("198.51.100.64/26")] + \
          [str(address) for address in ipaddress.ip_network("198.51.100.128/25")]
MOBILE_V4 = [str(address) for address in ipaddress.ip_network("203.0.113.0/25")]
TRAVEL_V4 = [str(address) for address in ipaddress.ip_network("203.0.113.128/26")]
SERVER_V4 = [str(address) for address in ipaddress.ip_network("203.0.113.192/26")]

DEPARTMENTS = ("Engineering", "Sales", "Customer Success", "Marketing", "Finance", "People",
               "Operations", "Legal")
FIRST_NAMES = (
    "olivia amelia harry oliver isla george priya james aisha noah "
    "lena jonas mia felix hannah lukas emma paul leonie ben "
    "sophia liam ava ethan maya lucas chloe mason zoe daniel "
    "wei ling jun hui arjun siti ming kai mei ravi "
    "ana joao beatriz pedro larissa gabriel julia rafael camila thiago"
).split()
LAST_NAMES = (
    "smith jones taylor brown patel wilson evans khan walker wright "
    "mueller schmidt schneider fischer weber meyer wagner becker hoffmann koch "
    "johnson williams garcia miller davis rodriguez martinez lee clark lewis "
    "tan lim ng wong goh chua ong teo koh sim "
    "silva santos oliveira souza lima pereira costa ferreira almeida ribeiro"
).split()

# client, device kind, share of such devices running it, daily use on workdays, weekends
CLIENTS = pd.DataFrame.from_records([
    ("slack-ios", "iphone", 0.97, 0.80, 0.55),
    ("safari-ios", "iphone", 0.40, 0.15, 0.15),
    ("slack-android", "android", 0.97, 0.80, 0.55),
    ("chrome-android", "android", 0.35, 0.15, 0.15),
    ("slack-ipad", "ipad", 0.90, 0.20, 0.30),
    ("safari-ipad", "ipad", 0.35, 0.10, 0.15),
    ("slack-desktop", "mac", 0.92, 0.90, 0.10),
    ("slack-desktop", "windows", 0.92, 0.90, 0.10),
    ("slack-desktop", "linux", 0.75, 0.90, 0.10),
    ("browser", "mac", 1.00, 0.35, 0.05),
    ("browser", "windows", 1.00, 0.35, 0.05),
    ("browser", "linux", 1.00, 0.50, 0.05),
], columns=["client", "kind", "share", "workday", "weekend"])
# Which browser a laptop uses, by kind: (names, probabilities)
BROWSERS = {
    "mac": (("chrome", "safari-mac", "firefox", "edge"), (0.55, 0.30, 0.10, 0.05)),
    "windows": (("chrome", "edge", "firefox"), (0.60, 0.30, 0.10)),
    "linux": (("chromium", "firefox"), (0.55, 0.45)),
}
# The catalog product each client's version comes from; OS-bound clients take the OS's.
CLIENT_PRODUCT = {
    "slack-ios": "slack-ios", "slack-ipad": "slack-ios", "slack-android": "slack-android",
    "slack-desktop": "slack-desktop", "chrome": "chrome", "chromium": "chrome",
    "chrome-android": "chrome", "edge": "edge", "firefox": "firefox", "safari-mac": "safari",
    "safari-ios": "ios", "safari-ipad": "ipados",
}
OS_PRODUCT = {"iphone": "ios", "ipad": "ipados", "android": "android"}
DEVICE_CLASS = {"iphone": "phone", "android": "phone", "ipad": "tablet",
                "mac": "desktop", "windows": "desktop", "linux": "desktop"}
DESKTOP_TOKEN = {"mac": "Macintosh; Intel Mac OS X 10_15_7", "windows": "Windows NT 10.0; Win64; x64",
                 "linux": "X11; Linux x86_64"}
FIREFOX_TOKEN = {"mac": "Macintosh; Intel Mac OS X 10.15", "windows": "Windows NT 10.0; Win64; x64",
                 "linux": "X11; Ubuntu; Linux x86_64"}
ANDROID_MODELS = ("Pixel 8", "Pixel 7a", "Pixel 9", "SM-S921B", "SM-A546B", "SM-G991B",
                  "SM-S911U", "moto g84 5G", "CPH2581", "2311DRK48G")
# slack_sdk releases (version, date) for the scripts some staff run.
SLACK_SDK = (("3.21.3", "2023-05-09"), ("3.27.1", "2024-02-13"), ("3.33.1", "2024-09-19"),
             ("3.35.0", "2025-03-10"))
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"


@dataclass(frozen=True)
class Organisation:
    """The simulated organisation: its people, networks and the Slack logins they made.

    ``logins`` has the access-log columns (``user_id, username, date_first, date_last,
    count, ip, user_agent, isp, country, region``) and, for tests and notebooks, what the
    generator knows: ``device_id, kind, device_class, os_product, os_version,
    client, client_product, client_version`` (the first version seen on the row; NA for
    scripts and bots). ``devices`` has per device ``device_id, user_id, office, kind,
    held`` (kept on the previous OS line), ``held_after`` (still kept there after the
    nudge) and ``os_at_start``, ``os_at_end``: the OS version it ran on the first and
    last day (None for laptops, whose user agents never show it).
    ``omitted`` names products left out because the catalog is not complete to ``end``;
    ``synthetic`` those whose versions come from ``synthetic_track`` instead.
    """

    directory: pd.DataFrame
    networks: pd.DataFrame
    devices: pd.DataFrame
    logins: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    nudge: pd.Timestamp
    seed: int
    omitted: tuple[str, ...] = ()
    synthetic: tuple[str, ...] = ()


def default_end(catalog: pd.DataFrame) -> pd.Timestamp:
    """The earliest date up to which ``catalog`` lists every release of the demo's core products.

    The core products are iOS, Android, Chrome, Safari and Firefox (those the catalog has).

    Examples:
        >>> rows = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
        >>> default_end(rows)
        Timestamp('2024-04-30 00:00:00')
    """
    covered = releases.coverage(catalog)
    used = covered[covered.index.isin(CORE)]
    if used.empty:
        raise BadInput("catalog", "", "no releases of the products the demo needs")
    return pd.Timestamp(used.min()).normalize()


def simulate(users: int = 300, weeks: int = 26, seed: int = 7, end=None,
             catalog: pd.DataFrame | None = None) -> Organisation:
    """Simulate the organisation's people, devices and Slack logins over ``weeks`` ending at ``end``.

    ``catalog`` defaults to the catalog shipped with the package. Deterministic for a
    given seed, catalog and arguments. Raises ``BadInput`` for unusable sizes or a period
    the catalog (or today's user-agent shapes) cannot vouch for.

    Examples:
        >>> org = simulate(users=6, weeks=2, seed=3)
        >>> org.directory.columns.tolist()
        ['user_id', 'email', 'office', 'department', 'ownership', 'exempt_until']
        >>> bool((org.logins["date_first"] <= org.logins["date_last"]).all())
        True
        >>> simulate(users=0)
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: --users: 0: need between 1 and 100000 users
    """
    if not 1 <= users <= 100_000:
        raise BadInput("--users", users, "need between 1 and 100000 users")
    if not 1 <= weeks <= 520:
        raise BadInput("--weeks", weeks, "need between 1 and 520 weeks")
    # The shipped catalog only, without the local feed overlay: the same package and seed
    # then give the same files on every machine.
    catalog = releases.load(updates=None) if catalog is None else catalog
    covered = default_end(catalog)
    end = covered if end is None else pd.Timestamp(end).tz_localize(None).normalize()
    if end > covered:
        raise BadInput("--end", end.date(), f"the release catalog is only complete until {covered.date()}")
    start = end - pd.Timedelta(days=7 * weeks - 1)
    if start < SHAPES_SINCE:
        raise BadInput("--weeks/--end", f"start {start.date()}",
                       f"the demo writes user agents as clients send them since {SHAPES_SINCE.date()}; "
                       "use fewer --weeks or a later --end")
    nudge = start + pd.Timedelta(days=round(7 * weeks * 2 / 3))
    rng = np.random.default_rng(seed)
    people = _people(rng, users)
    covered_until = releases.coverage(catalog)
    usable = [product for product in PRODUCTS if covered_until.get(product, pd.NaT) >= end]
    tracks = _tracks(catalog[catalog["product"].astype("str").isin(usable)], start, end)
    synthetic = tuple(product for product in SYNTHETIC if (product, "main") not in tracks)
    for product in synthetic:
        track = synthetic_track(start, end)
        days = (track["released"] - pd.Timestamp(0)).dt.days.to_numpy()
        tracks[product, "main"] = tracks[product, "held"] = (days, track["version"].to_numpy(dtype=object))
    omitted = tuple(product for product in PRODUCTS if (product, "main") not in tracks)
    devices = _devices(rng, people, tracks, start)
    clients = _clients(rng, devices, tracks)
    events = _events(rng, people, devices, clients, start, end)
    events = _versions(events, devices, clients, tracks, nudge)
    events = pd.concat([events, _scripts(rng, people, start, end)], ignore_index=True)
    events["user_agent"] = _user_agents(events, devices, tracks, rng)
    logins = _logins(events, people, rng)
    directory = _directory(rng, people, end)
    networks = pd.DataFrame({
        "cidr": pd.concat([OFFICES["ipv4"], OFFICES["ipv6"]], ignore_index=True),
        "office": pd.concat([OFFICES["office"]] * 2, ignore_index=True),
    }).query("cidr != ''").reset_index(drop=True)
    kind = devices["kind"].to_numpy()
    devices["os_at_start"] = _os_versions(tracks, kind, devices["held"].to_numpy(),
                                          np.full(len(devices), int(start.timestamp()) // DAY),
                                          devices["os_lag"].to_numpy())
    devices["os_at_end"] = _os_versions(tracks, kind, devices["held_after"].to_numpy(),
                                        np.full(len(devices), int(end.timestamp()) // DAY),
                                        devices["os_lag_after"].to_numpy())
    devices = devices[["device_id", "user_id", "office", "kind", "held", "held_after", "os_at_start", "os_at_end"]]
    return Organisation(directory, networks, devices, logins, start, end, nudge, seed, omitted, synthetic)


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


def write(out: Path, users: int = 300, weeks: int = 26, seed: int = 7, end=None,
          catalog: pd.DataFrame | None = None) -> dict:
    """Simulate the organisation and write its files under ``out``; return the paths written.

    Keys: ``slack`` (list of page paths), ``directory``, ``networks``, ``readme``. Pages
    left from an earlier, larger run are removed so the folder holds one consistent log.

    Examples:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> written = write(folder, users=5, weeks=1, seed=2)
        >>> written["slack"][0].name
        'access_logs_page_001.json'
        >>> written["networks"].read_text().splitlines()[0]
        'cidr,office'
    """
    out = Path(out)
    org = simulate(users=users, weeks=weeks, seed=seed, end=end, catalog=catalog)
    folder = out / "slack"
    pages = []
    for page in tqdm(access_log_pages(org.logins), desc="demo pages", unit="page", disable=None):
        path = folder / f"access_logs_page_{page['paging']['page']:03d}.json"
        pages.append(write_text(path, json.dumps(page, ensure_ascii=False) + "\n"))
    for stale in sorted(folder.glob("access_logs_page_*.json")):
        if stale not in pages:
            stale.unlink()
    return {
        "slack": pages,
        "directory": write_csv(org.directory, out / "directory.csv"),
        "networks": write_csv(org.networks, out / "networks.csv"),
        "readme": write_text(out / "README.md", _readme(org, users, weeks, len(pages))),
    }


def ensure_store(out: Path = DEMO_DIR, store_path: Path = DEMO_STORE) -> Path:
    """Write the demo organisation if ``out`` has no pages, and ingest it into ``store_path``.

    What ``fleetanalysis ingest`` does when no logs are configured, for callers (notebooks
    on a fresh clone) that need the demo store to exist. Re-running is safe: the store's
    dedupe merges the same rows, never doubles them.
    """
    from fleetanalysis import sources, store

    out = Path(out)
    if not any(out.glob("slack/access_logs_page_*.json")):
        write(out)
    store.merge(store_path, sources.load([out / "slack"]))
    return Path(store_path)


def _people(rng: np.random.Generator, users: int) -> pd.DataFrame:
    office = rng.choice(len(OFFICES), size=users, p=OFFICES["share"].to_numpy())
    # Remote staff live in one of the office countries.
    country = np.where(OFFICES["country"].to_numpy()[office] == "", rng.choice(5, size=users), office)
    first = rng.choice(FIRST_NAMES, size=users)
    last = rng.choice(LAST_NAMES, size=users)
    username = pd.Series([f"{a}.{b}" for a, b in zip(first, last)])
    repeat = username.groupby(username).cumcount()
    username = username.where(repeat.eq(0), username + (repeat + 1).astype(str))
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < users:
        candidate = "U0" + "".join(rng.choice(alphabet, size=int(rng.integers(8, 11))))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    home = np.array(HOME_V4)
    slice_size = len(home) // 5
    home_v4 = home[country * slice_size + rng.integers(0, slice_size, size=users)]
    # A fifth of home lines get a new address part-way (dynamic IPs).
    moved_v4 = home[country * slice_size + rng.integers(0, slice_size, size=users)]
    has_v6 = rng.random(users) < 0.35
    home_v6 = [f"2001:db8:{0x100 + c:x}:{r:x}::{h:x}" for c, r, h in
               zip(country, rng.integers(1, 0xFFFF, size=users), rng.integers(2, 0xFFFF, size=users))]
    return pd.DataFrame({
        "user_id": ids, "username": username, "office": office, "country": country,
        "department": rng.choice(DEPARTMENTS, size=users, p=(0.34, 0.18, 0.14, 0.1, 0.07, 0.05, 0.08, 0.04)),
        "home_v4": home_v4, "moved_v4": moved_v4,
        "move_day": np.where(rng.random(users) < 0.2, rng.random(users), 2.0),
        "home_v6": np.where(has_v6, home_v6, ""),
        "in_office": rng.uniform(0.3, 0.8, size=users),
    })


def _devices(rng: np.random.Generator, people: pd.DataFrame, tracks: dict, start: pd.Timestamp) -> pd.DataFrame:
    users = len(people)
    phone = np.where((rng.random(users) < 0.74) | (("android", "main") not in tracks), "iphone", "android")
    has_laptop = rng.random(users) < 0.9
    laptop = rng.choice(["mac", "windows", "linux"], size=users, p=(0.62, 0.31, 0.07))
    has_ipad = (rng.random(users) < 0.18) & (("ipados", "main") in tracks)
    frames = [pd.DataFrame({"user": np.arange(users), "kind": phone}),
              pd.DataFrame({"user": np.flatnonzero(has_laptop), "kind": laptop[has_laptop]}),
              pd.DataFrame({"user": np.flatnonzero(has_ipad), "kind": "ipad"})]
    devices = pd.concat(frames, ignore_index=True).sort_values(["user", "kind"], kind="stable")
    devices = devices.reset_index(drop=True)
    count = len(devices)
    devices["device_id"] = [f"D{number:05d}" for number in range(count)]
    devices["user_id"] = people["user_id"].to_numpy()[devices["user"]]
    office = people["office"].to_numpy()[devices["user"]]
    devices["office"] = OFFICES["office"].to_numpy()[office]
    factor = OFFICES["lag_factor"].to_numpy()[office]
    kind = devices["kind"].to_numpy()
    # Some Apple devices stay on the previous major (too old for the new one, or by choice).
    devices["held"] = np.isin(kind, ["iphone", "ipad"]) & (rng.random(count) < 0.08)
    # Half of them stayed by choice and move to the current line once nudged.
    devices["held_after"] = devices["held"] & (rng.random(count) < 0.5)
    # Days from the newest release a device could have had a fortnight before the start to
    # the start: a device whose delay exceeds it is outdated on day one.
    first_day = int(start.timestamp()) // DAY
    behind = np.full(count, 60.0)
    for device_kind, product in OS_PRODUCT.items():
        if (product, "main") not in tracks:
            continue
        for track in ("main", "held"):
            days, _ = tracks[product, track]
            chosen = (kind == device_kind) & (devices["held"].to_numpy() == (track == "held"))
            behind[chosen] = first_day - days[days <= first_day - 14].max() if (days <= first_day - 14).any() else 60
    # iOS waits for Wi-Fi and a charger: most update within one to three weeks; Android
    # majors arrive when the maker ships them, months after Google.
    quick = np.where(kind == "android", rng.lognormal(np.log(45), 0.6, count),
                     rng.lognormal(np.log(8), 0.45, count)) * factor
    # About a fifth are laggards at the start, more in offices with slow habits.
    laggard = rng.random(count) < 0.2 * factor / np.average(OFFICES["lag_factor"], weights=OFFICES["share"])
    tail = rng.lognormal(np.log(25), 0.8, count)
    devices["os_lag"] = np.where(laggard, behind + tail, np.minimum(quick, behind - 1))
    # After the nudge campaign most laggards update within days; some never respond.
    responds = rng.random(count) < np.where(kind == "android", 0.5, 0.85)
    devices["os_lag_after"] = np.where(responds, np.minimum(devices["os_lag"], rng.uniform(2, 10, count)),
                                       devices["os_lag"])
    devices["model"] = rng.choice(ANDROID_MODELS, size=count)
    devices["scale"] = np.where(rng.random(count) < 0.9, "3.00", "2.00")
    devices["prefers_v6"] = rng.random(count) < 0.8
    devices["mobile_pool"] = rng.integers(0, 1 << 30, size=count)
    return devices


def _clients(rng: np.random.Generator, devices: pd.DataFrame, tracks: dict) -> pd.DataFrame:
    pairs = devices[["device_id", "kind"]].reset_index(names="device").merge(CLIENTS, on="kind")
    pairs = pairs[rng.random(len(pairs)) < pairs["share"].to_numpy()].copy()
    browser = pairs["client"].eq("browser")
    for kind, (names, weights) in BROWSERS.items():
        chosen = browser & pairs["kind"].eq(kind)
        pairs.loc[chosen, "client"] = rng.choice(names, size=int(chosen.sum()), p=weights)
    # A client whose product the catalog does not list cannot be given a true version.
    known = pairs["client"].map(CLIENT_PRODUCT).map(lambda product: (product, "main") in tracks)
    known &= pairs["client"].ne("slack-desktop") | (("chrome", "main") in tracks)
    pairs = pairs[known].sort_values(["device", "client"], kind="stable").reset_index(drop=True)
    count = len(pairs)
    # Browsers and apps update themselves: most within days, a tail that never restarts.
    tail = rng.random(count) < np.where(pairs["client"].str.startswith("slack"), 0.12, 0.2)
    lag = np.where(tail, rng.lognormal(np.log(30), 0.6, count), rng.lognormal(np.log(4), 0.6, count))
    # Distribution Chromium waits for the distribution to package it.
    lag = lag + np.where(pairs["client"].eq("chromium"), rng.uniform(14, 42, count), 0.0)
    factor = OFFICES.set_index("office")["lag_factor"]
    lag = lag * factor.reindex(devices["office"].to_numpy()[pairs["device"]]).to_numpy()
    pairs["lag"] = lag
    pairs["lag_after"] = np.where(rng.random(count) < 0.85, np.minimum(lag, rng.uniform(1, 7, count)), lag)
    # Safari on a Mac moves with macOS, so it lags like the Mac's OS updates.
    safari = pairs["client"].eq("safari-mac").to_numpy()
    pairs.loc[safari, "lag"] = devices["os_lag"].to_numpy()[pairs.loc[safari, "device"]]
    pairs.loc[safari, "lag_after"] = devices["os_lag_after"].to_numpy()[pairs.loc[safari, "device"]]
    return pairs[["device", "device_id", "kind", "client", "workday", "weekend", "lag", "lag_after"]]


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


def _versions(events: pd.DataFrame, devices: pd.DataFrame, clients: pd.DataFrame, tracks: dict,
              nudge: pd.Timestamp) -> pd.DataFrame:
    """The OS and client version each event ran: the newest release its delay lets it have."""
    day = events["day"].to_numpy()
    after = day >= int(nudge.timestamp()) // DAY
    device = events["device"].to_numpy()
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
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(shape))
    electron = _electron(tracks)
    safari = _mobile_safari(tracks, shape.loc[shape["client"].isin(["safari-ios", "safari-ipad"]), "os_version"])
    rendered = np.array([_render(dict(zip(shape.columns, values)), electron, safari) for values in uniques],
                        dtype=object)
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


def _directory(rng: np.random.Generator, people: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    count = len(people)
    ownership = rng.choice(["", "managed", "personal"], size=count, p=(0.84, 0.08, 0.08))
    exempt = np.full(count, "", dtype=object)
    exempt[int(rng.integers(0, count))] = str((end + pd.Timedelta(days=60)).date())
    directory = pd.DataFrame({
        "user_id": people["user_id"], "email": people["username"] + "@example.com",
        "office": OFFICES["office"].to_numpy()[people["office"]], "department": people["department"],
        "ownership": ownership, "exempt_until": exempt,
    })
    # Guests and contractors sign in to Slack but are not in the HR export.
    guests = rng.random(count) < 0.02
    return directory[~guests].reset_index(drop=True)


def _readme(org: Organisation, users: int, weeks: int, pages: int) -> str:
    return f"""# Demo data: a synthetic organisation

Everything in this folder is synthetic, made by `fleetanalysis demo` (seed {org.seed},
{users} users, {weeks} weeks). No real person, address or device is in it: addresses
are from the documentation ranges (RFC 5737, RFC 3849), e-mail addresses use
`example.com`.

- `slack/access_logs_page_001.json` ... `{pages:03d}`: Slack `team.accessLogs` response
  pages, {len(org.logins)} logins from {org.start.date()} to {org.end.date()}, newest first.
- `directory.csv`: user id, e-mail, office, department, ownership, exemption.
- `networks.csv`: the offices' networks.

Offices: London, Berlin, New York, Singapore, São Paulo, plus remote staff. A nudge
campaign ran on {org.nudge.date()}; after it most laggards updated within days. Every
version in a user agent{", but the synthetic Slack app versions below," if org.synthetic else ""} is a release
listed in the package's release catalog on or before the day of the sign-in.

{_synthetic(org)}{_omissions(org)}Rebuild with
`fleetanalysis demo --seed {org.seed} --users {users} --weeks {weeks} --end {org.end.date()}`.
"""


def _synthetic(org: Organisation) -> str:
    if not org.synthetic:
        return ""
    return ("Slack's mobile app versions are synthetic: the release catalog has no dated list of them,\n"
            "so those clients are judged unknown; the OS version they carry is real and judged. This\n"
            f"applies to {', '.join(org.synthetic)}: made-up versions in Slack's YY.MM.NN scheme, a release\n"
            "about every two weeks.\n\n")


def _omissions(org: Organisation) -> str:
    if not org.omitted:
        return ""
    return (f"Left out, because the release catalog does not list them completely up to "
            f"{org.end.date()}: {', '.join(org.omitted)}.\n\n")
