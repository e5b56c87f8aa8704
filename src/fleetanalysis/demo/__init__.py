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
    ['directory', 'networks', 'nudges', 'readme', 'slack']
    >>> import json
    >>> page = json.loads(written["slack"][0].read_text())
    >>> sorted(page), sorted(page["paging"])
    (['logins', 'ok', 'paging'], ['count', 'page', 'pages', 'total'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from fleetanalysis import catalog as releases
from fleetanalysis.config import DEMO_DIR, DEMO_STORE
from fleetanalysis.demo import nudging
from fleetanalysis.demo.logs import (
    CORE, PRODUCTS, SHAPES_SINCE, SYNTHETIC, _events, _logins, _os_versions, _scripts, _tracks, _user_agents,
    _versions, access_log_pages, synthetic_track,
)
from fleetanalysis.demo.people import DAY, OFFICES, OS_PRODUCT, _clients, _devices, _directory, _people
from fleetanalysis.errors import BadInput
from fleetanalysis.nudges.state import write_history
from fleetanalysis.writing import write_csv, write_text

# The campaign's nudge state, beside the logs it explains.
NUDGE_STATE = "nudges.sqlite"

__all__ = ["CORE", "OS_PRODUCT", "PRODUCTS", "SYNTHETIC", "Organisation", "access_log_pages", "default_end",
           "ensure_store", "simulate", "synthetic_track", "write"]

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
    last day (None for laptops, whose user agents never show it), ``update_day`` (days
    since 1970 from which it follows its after-campaign delays; the int64 maximum: never).
    ``omitted`` names products left out because the catalog is not complete to ``end``;
    ``synthetic`` those whose versions come from ``synthetic_track`` instead. ``nudges``
    and ``answers`` are the nudge campaign's messages and answers (``nudging``), as rows
    of the nudge state's tables.
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
    nudges: pd.DataFrame | None = None
    answers: pd.DataFrame | None = None


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
    # Its own random stream, so that the campaign leaves every other draw as it was.
    ran = nudging.campaign(np.random.default_rng([seed, 19]), devices.assign(seen=devices.index.isin(clients["device"])),
                           nudge, end)
    devices["update_day"], devices["os_lag_after"] = ran.update_day, ran.os_lag_after
    events = _events(rng, people, devices, clients, start, end)
    events = _versions(events, devices, clients, tracks)
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
    end_day = int(end.timestamp()) // DAY
    updated = devices["update_day"].to_numpy() <= end_day
    devices["os_at_end"] = _os_versions(tracks, kind, np.where(updated, devices["held_after"], devices["held"]),
                                        np.full(len(devices), end_day),
                                        np.where(updated, devices["os_lag_after"], devices["os_lag"]))
    devices = devices[["device_id", "user_id", "office", "kind", "held", "held_after", "os_at_start", "os_at_end",
                       "update_day"]]
    return Organisation(directory, networks, devices, logins, start, end, nudge, seed, omitted, synthetic,
                        ran.messages, ran.answers)


def write(out: Path, users: int = 300, weeks: int = 26, seed: int = 7, end=None,
          catalog: pd.DataFrame | None = None) -> dict:
    """Simulate the organisation and write its files under ``out``; return the paths written.

    Keys: ``slack`` (list of page paths), ``directory``, ``networks``, ``nudges`` (the
    campaign's nudge state, ``nudges.sqlite``), ``readme``. Pages left from an earlier,
    larger run are removed so the folder holds one consistent log.

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
        "nudges": write_history(out / NUDGE_STATE, org.nudges, org.answers),
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
- `nudges.sqlite`: the nudge campaign's state: {0 if org.nudges is None else int((org.nudges["kind"] == "dm").sum())} DMs and
  {0 if org.answers is None else len(org.answers)} button answers (`fleetanalysis nudges outcomes --state` measures it).

Offices: London, Berlin, New York, Singapore, São Paulo, plus remote staff. A nudge
campaign began on {org.nudge.date()}: a Slack bot asked owners of lagging iPhones and iPads
every morning, reminded them, and told their office; people answered a first request more
often than a third (module `fleetanalysis.demo.nudging`). Every
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
