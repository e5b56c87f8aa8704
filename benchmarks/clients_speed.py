"""How much faster clients.describe is than parsing every row with ua_parser.parse.

Builds --distinct realistic user-agent strings (browsers, Slack apps, SDKs, with the
version spread of 2019-2026), draws --rows rows from them with a long-tailed (Zipf-like)
popularity, then times:

- ``clients.describe`` on the rows as a ``str`` Series (factorize included) and as the
  categorical Series the store keeps;
- ``Series.apply(ua_parser.parse)`` on a random sample of the rows (default 200,000),
  extrapolated linearly to all rows, since parsing every row is what it costs.

Prints one JSON line: rows, distinct, both timings and the speed-up.

    .venv/bin/python benchmarks/clients_speed.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import pandas as pd

from fleetanalysis import clients

KH = "AppleWebKit/537.36 (KHTML, like Gecko)"
SAF = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
ANDROID_MODELS = ["SM-G991B", "SM-S918B", "SM-A546B", "Pixel 6", "Pixel 7", "Pixel 8", "Pixel 9",
                  "moto g(60)", "2201117TG", "CPH2409", "M2101K6G", "SM-T870", "SM-X700"]


def _chrome_token(rng: random.Random, major: int) -> str:
    """A Chrome version token as it appears in the wild: full before 101, reduced after."""
    if major >= 101 and rng.random() < 0.9:
        return f"{major}.0.0.0"
    return f"{major}.0.{rng.randint(3000, 7500)}.{rng.randint(1, 250)}"


def _one_agent(rng: random.Random) -> str:
    """One random user agent from the mix a sign-in log holds."""
    pick = rng.random()
    major = rng.randint(72, 142)
    if pick < 0.25:
        system = rng.choice(["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7",
                             "X11; Linux x86_64", f"Windows NT 10.0.{rng.randint(17000, 26200)}; Win64; x64"])
        tail = f" Edg/{_chrome_token(rng, major)}" if rng.random() < 0.3 else ""
        return f"Mozilla/5.0 ({system}) {KH} Chrome/{_chrome_token(rng, major)} Safari/537.36{tail}"
    if pick < 0.35:
        system = rng.choice(["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10.15", "X11; Linux x86_64"])
        minor = rng.choice(["0", "0.1", "0.2", "0.3"])
        return f"Mozilla/5.0 ({system}; rv:{66 + major % 80}.0) Gecko/20100101 Firefox/{66 + major % 80}.{minor}"
    if pick < 0.5:
        ios = f"{rng.randint(12, 18)}_{rng.randint(0, 7)}" + (f"_{rng.randint(1, 3)}" if rng.random() < 0.4 else "")
        device = rng.choice(["iPhone; CPU iPhone OS", "iPad; CPU OS"])
        return (f"Mozilla/5.0 ({device} {ios} like Mac OS X) {SAF} Version/{ios.split('_')[0]}.{rng.randint(0, 6)} "
                f"Mobile/15E148 Safari/604.1")
    if pick < 0.6:
        android = rng.randint(9, 16)
        system = "Linux; Android 10; K" if major >= 110 else f"Linux; Android {android}; {rng.choice(ANDROID_MODELS)}"
        return f"Mozilla/5.0 ({system}) {KH} Chrome/{_chrome_token(rng, major)} Mobile Safari/537.36"
    if pick < 0.7:
        slack = f"4.{rng.randint(0, 47)}.{rng.randint(1, 200)}"
        system = rng.choice(["Macintosh; Intel Mac OS X 10_15_7", "Windows NT 10.0; Win64; x64", "X11; Linux x86_64"])
        return (f"Mozilla/5.0 ({system}) {KH} Slack/{slack} Chrome/{_chrome_token(rng, major)} "
                f"Electron/{rng.randint(4, 39)}.{rng.randint(0, 5)}.{rng.randint(0, 12)} Safari/537.36 Sonic Slack_SSB/{slack}")
    if pick < 0.8:
        version = f"{rng.randint(19, 25)}.{rng.randint(1, 12):02d}.{rng.choice([10, 20, 30])}"
        device = rng.choice(["iPhone", "iPad"])
        ios = f"{rng.randint(13, 26)}.{rng.randint(0, 7)}" + (f".{rng.randint(1, 3)}" if rng.random() < 0.4 else "")
        return f"com.tinyspeck.chatlyio/{version} ({device}; iOS {ios}; Scale/{rng.choice(['2.00', '3.00'])})"
    if pick < 0.88:
        version = f"{rng.randint(19, 25)}.{rng.randint(1, 12):02d}.10.0"
        return (f"com.Slack/{version} Dalvik/2.1.0 (Linux; U; Android {rng.randint(9, 16)}; "
                f"{rng.choice(ANDROID_MODELS)} Build/AP1A.{rng.randint(230000, 251231)}.0{rng.randint(10, 99)})")
    if pick < 0.95:
        return (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {SAF} "
                f"Version/{rng.choice([13, 14, 15, 16, 17, 18, 26])}.{rng.randint(0, 6)}.{rng.randint(0, 3)} Safari/605.1.15")
    return rng.choice([
        f"python-requests/2.{rng.randint(20, 32)}.{rng.randint(0, 3)}",
        f"Python/3.{rng.randint(7, 13)}.{rng.randint(0, 18)} slack_sdk/3.{rng.randint(0, 36)}.{rng.randint(0, 5)} Linux/6.{rng.randint(0, 11)}.0",
        f"curl/{rng.randint(7, 8)}.{rng.randint(0, 88)}.{rng.randint(0, 2)}",
        f"okhttp/{rng.randint(3, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
    ])


def agents(distinct: int, seed: int = 7) -> list[str]:
    """``distinct`` different realistic user agents."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < distinct:
        found[_one_agent(rng)] = None
    return list(found)


def rows(distinct_agents: list[str], count: int, seed: int = 7) -> pd.Series:
    """``count`` rows drawn from the agents with a long-tailed popularity, as a categorical."""
    weights = 1.0 / np.arange(1, len(distinct_agents) + 1) ** 0.8
    codes = np.random.default_rng(seed).choice(len(distinct_agents), size=count, p=weights / weights.sum())
    return pd.Series(pd.Categorical.from_codes(codes, categories=distinct_agents), name="user_agent")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rows", type=int, default=10_000_000)
    options.add_argument("--distinct", type=int, default=20_000)
    options.add_argument("--sample", type=int, default=200_000, help="rows the naive parse really runs on")
    args = options.parse_args()

    import ua_parser

    categorical = rows(agents(args.distinct), args.rows)
    text = categorical.astype("str")
    clients.describe(pd.Series(["warm-up"]))  # builds the parser once, as any long run would

    started = time.perf_counter()
    clients.describe(text)
    fast_text = time.perf_counter() - started
    started = time.perf_counter()
    clients.describe(categorical)
    fast_categorical = time.perf_counter() - started

    sample = text.sample(n=min(args.sample, args.rows), random_state=7)
    ua_parser.parse("warm-up")
    started = time.perf_counter()
    sample.apply(ua_parser.parse)
    naive_sample = time.perf_counter() - started
    naive = naive_sample * args.rows / len(sample)

    print(json.dumps({
        "rows": args.rows, "distinct": int(categorical.nunique()),
        "describe_str_seconds": round(fast_text, 2), "describe_categorical_seconds": round(fast_categorical, 2),
        "naive_sample_rows": len(sample), "naive_sample_seconds": round(naive_sample, 2),
        "naive_seconds_extrapolated": round(naive, 1),
        "speedup_str": round(naive / fast_text, 1), "speedup_categorical": round(naive / fast_categorical, 1),
    }))


if __name__ == "__main__":
    main()
