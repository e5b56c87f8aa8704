"""The demo organisation's people: offices and their networks, staff, their devices and
the clients on them, and the directory export (``demo.simulate`` puts them together)."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

DAY = 86_400

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
ANDROID_MODELS = ("Pixel 8", "Pixel 7a", "Pixel 9", "SM-S921B", "SM-A546B", "SM-G991B",
                  "SM-S911U", "moto g84 5G", "CPH2581", "2311DRK48G")


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
    devices["laggard"] = laggard
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
