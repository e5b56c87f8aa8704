"""A large synthetic per-event sign-in log in the generic CSV shape, and its directory.

Writes ``events.csv`` with the header ``time,user,ip,user_agent`` (one row per sign-in
event: ISO 8601 UTC time, e-mail, IPv4, raw user agent, quoted by the CSV writer where
needed) and ``directory.csv`` (``email,office,department``), the shapes
``fleetanalysis ingest`` and ``org.load_directory`` read.

The population: ``--users`` people in ``OFFICES`` offices, each with one to three
devices; each device is one user agent drawn from ``--agents`` distinct realistic
strings (``clients_speed.agents``: browsers, Slack apps, SDKs and scripts of 2019-2026)
with a long-tailed popularity. Events fall uniformly over the year before ``--end``
(default: the date the shipped catalog is complete to), people sign in with a
long-tailed frequency. Deterministic for a seed.

    .venv/bin/python benchmarks/generate.py --rows 1000000 --out /tmp/fleet-bench
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv

from clients_speed import agents
from fleetanalysis import catalog, demo
from fleetanalysis.writing import atomic_path, write_csv

OFFICES = ["Berlin", "Lisbon", "London", "Madrid", "Nairobi", "New York", "Oslo", "Paris", "Singapore",
           "Tokyo"]
BLOCK_ROWS = 10_000_000
DEPARTMENTS = ["Engineering", "Finance", "Legal", "Marketing", "Operations", "Sales", "Support"]


def default_end() -> pd.Timestamp:
    """The newest day the shipped catalog vouches for (as the demo organisation uses)."""
    return demo.default_end(catalog.load(updates=False))


def write(out: Path, rows: int, distinct_agents: int, users: int, seed: int = 7,
          end: pd.Timestamp | None = None) -> dict:
    """Write ``events.csv`` and ``directory.csv`` under ``out``; what was written, as a dict."""
    out.mkdir(parents=True, exist_ok=True)
    end = pd.Timestamp(end if end is not None else default_end()).normalize()
    rng = np.random.default_rng(seed)
    pool = np.asarray(agents(distinct_agents, seed=seed), dtype=object)
    popularity = 1.0 / np.arange(1, len(pool) + 1) ** 0.8

    emails = np.asarray([f"user{number:06d}@example.com" for number in range(users)], dtype=object)
    office = rng.integers(0, len(OFFICES), size=users)
    write_csv(pd.DataFrame({"email": emails, "office": np.asarray(OFFICES)[office],
                            "department": np.asarray(DEPARTMENTS)[rng.integers(0, len(DEPARTMENTS), size=users)]}),
              out / "directory.csv")

    # Devices: one to three per person, the first few thousand agents most common.
    per_user = rng.choice([1, 2, 3], size=users, p=[0.4, 0.4, 0.2])
    device_user = np.repeat(np.arange(users), per_user)
    device_agent = rng.choice(len(pool), size=len(device_user), p=popularity / popularity.sum())
    # Make sure every agent occurs once at least when there are devices enough for it.
    spare = min(len(pool), len(device_agent))
    device_agent[rng.permutation(len(device_agent))[:spare]] = rng.permutation(len(pool))[:spare]
    device_host = rng.integers(1, 250, size=len(device_user))

    activity = 1.0 / np.arange(1, len(device_user) + 1) ** 0.5
    start = (end - pd.Timedelta(days=365)).value // 10**9
    ip_text = pyarrow.array(np.asarray([f"10.{o}.{h // 250}.{h}" for o, h in zip(office[device_user], device_host)],
                                       dtype=object))
    agent_text, email_text = pyarrow.array(pool), pyarrow.array(emails)
    used_agents, used_users = np.zeros(len(pool), dtype=bool), np.zeros(users, dtype=bool)
    # Written BLOCK_ROWS at a time, so 100 million rows need no more memory than 10 million
    # (a file of one block is the one an unblocked run wrote for the seed).
    with atomic_path(out / "events.csv") as target, pyarrow.csv.CSVWriter(target, pyarrow.schema(
            [("time", pyarrow.string()), ("user", pyarrow.dictionary(pyarrow.int32(), pyarrow.string())),
             ("ip", pyarrow.dictionary(pyarrow.int32(), pyarrow.string())),
             ("user_agent", pyarrow.dictionary(pyarrow.int32(), pyarrow.string()))])) as writer:
        for offset in range(0, rows, BLOCK_ROWS):
            size = min(BLOCK_ROWS, rows - offset)
            event_device = rng.choice(len(device_user), size=size, p=activity / activity.sum())
            seconds = rng.integers(start, end.value // 10**9 + 86_399, size=size)
            times = np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "Z")
            user_codes = device_user[event_device]
            used_agents[device_agent[event_device]] = True
            used_users[user_codes] = True
            writer.write_table(pyarrow.table({
                "time": pyarrow.array(times),
                "user": pyarrow.DictionaryArray.from_arrays(pyarrow.array(user_codes, pyarrow.int32()), email_text),
                "ip": pyarrow.DictionaryArray.from_arrays(pyarrow.array(event_device, pyarrow.int32()), ip_text),
                "user_agent": pyarrow.DictionaryArray.from_arrays(
                    pyarrow.array(device_agent[event_device], pyarrow.int32()), agent_text),
            }))
    return {"events": str(out / "events.csv"), "directory": str(out / "directory.csv"), "rows": rows,
            "agents": int(used_agents.sum()), "users": int(used_users.sum()),
            "devices": len(device_user), "end": f"{end:%Y-%m-%d}",
            "bytes": (out / "events.csv").stat().st_size}


def add_size_options(options: argparse.ArgumentParser) -> None:
    """The options that size the generated log (shared with ``run.py``)."""
    options.add_argument("--rows", type=int, default=10_000_000)
    options.add_argument("--agents", type=int, default=20_000, help="distinct user agents")
    options.add_argument("--users", type=int, default=50_000)
    options.add_argument("--seed", type=int, default=7)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_options(options)
    options.add_argument("--out", type=Path, required=True, help="folder to write events.csv and directory.csv in")
    args = options.parse_args()
    started = time.perf_counter()
    written = write(args.out, args.rows, args.agents, args.users, args.seed)
    print(json.dumps({**written, "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
