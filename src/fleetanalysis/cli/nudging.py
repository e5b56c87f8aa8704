"""Slack nudges: ``nudges`` (plan, send, outcomes) and ``slack-events`` (the buttons' answers)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from fleetanalysis.cli.arguments import fleet_options, parse_url, whole_number
from fleetanalysis.cli.fleet import fleet_at, fleet_inputs
from fleetanalysis.cli.output import write_table
from fleetanalysis.cli.stopping import Stopped
from fleetanalysis.config import MAX_DAYS
from fleetanalysis.errors import BadInput


def add_nudges(commands) -> None:
    parser = commands.add_parser(
        "nudges", help="plan (or --send) Slack DMs asking owners of outdated devices to update",
        description="Plan one Slack message per person whose devices are outdated past grace "
                    "(never unknown, grace or exempt), naming each device, the version to install "
                    "and how. A dry run printing the plan is the default; --send delivers it, "
                    "recording every message in a SQLite state file before and after sending, so "
                    "nobody is messaged twice within the cooldown unless their device list changed. "
                    "--as-of also sets the cooldown's clock (default: now). The Slack token is read "
                    "from the environment variable --token-env names. `nudges outcomes` prints, "
                    "instead, what the nudges recorded in the state achieved: share of nudged devices "
                    "updated within 3, 7 and 14 days and median days to update, per wave, office and "
                    "nth nudge, beside behind devices nobody nudged (an observational comparison).")
    parser.add_argument("action", nargs="?", choices=["plan", "outcomes"], default="plan",
                        help="plan (default: plan, or send with --send) or outcomes (no names are printed)")
    fleet_options(parser)
    parser.add_argument("--devices", type=Path, metavar="FILE",
                        help="devices table (Parquet or CSV, docs/pipeline.md 5-6) instead of the store")
    parser.add_argument("--history", type=Path, metavar="FILE",
                        help="outcomes: verdict history (Parquet or CSV: as_of, device_id, verdict[, office]) "
                             "instead of judging the store once a day since the first nudge")
    parser.add_argument("--send", action="store_true", help="send the messages (default: dry run)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="SQLite state file (default: data/processed/nudges.sqlite)")
    parser.add_argument("--token-env", default="SLACK_BOT_TOKEN", metavar="NAME",
                        help="environment variable holding the Slack bot token (default: %(default)s)")
    parser.add_argument("--base-url", type=parse_url, metavar="URL", help="Slack Web API base URL (default: Slack's)")
    parser.add_argument("--max", type=whole_number(0, 1_000_000), metavar="N",
                        help="send at most N first DMs (default: the policy's [nudges] max_messages, 50)")
    parser.add_argument("--cooldown-days", type=whole_number(0, MAX_DAYS, " days"), metavar="D",
                        help="no second message within D days unless the device list changed "
                             "(default: the policy's [nudges] cooldown_days, 7)")
    parser.add_argument("--stop-after", type=whole_number(1, 1000), metavar="N",
                        help="send no more to a person after N DMs they did not answer (default: the "
                             "policy's [nudges] stop_after_unanswered, no limit); the reminder and "
                             "office steps of the escalation ladder are set in the policy's [nudges]")
    parser.add_argument("--opt-out", type=Path, metavar="FILE",
                        help="text file of user ids, emails or user names never to message, one a line, "
                             "# comments (an email is matched through the directory too)")
    parser.add_argument("--format", choices=["table", "json", "csv"], default="table",
                        help="table (default), json, or formula-safe csv")
    parser.add_argument("--league-channel", metavar="ID", help="post the office league here once per ISO week")
    parser.add_argument("--league", type=Path, metavar="FILE",
                        help="league table (Parquet or CSV, metrics.league) to post (default: this "
                             "week against the week before, from the store)")
    parser.set_defaults(run=_run_nudges)


def _nudges_league(run):
    """metrics.league of the office shares at the run's date against a week before."""
    import pandas as pd

    from fleetanalysis import metrics

    week_before = run.as_of - pd.Timedelta(days=7)
    return metrics.league(pd.concat([run.devices_at(week_before).assign(as_of=week_before),
                                     run.devices.assign(as_of=run.as_of)], ignore_index=True))


# The plan's columns a person reads in the table style; JSON and CSV carry every column.
_PLAN_SHOWN = ["user_id", "user", "step", "devices", "action", "skip_reason", "fingerprint", "outcome", "error"]


def _write_plan(result, style: str) -> None:
    """The plan (or what sending did) through the one table writer, without the ``person`` column."""
    table = result.drop(columns=["person"], errors="ignore")
    if style == "table":
        table = table[[column for column in _PLAN_SHOWN if column in table.columns]].astype("string").fillna("")
    write_table(table, style, empty="No one to nudge.")


def _write_outcomes(table, style: str) -> None:
    """``outcomes.breakdown``'s table through the one table writer, shares as percentages in text."""
    import pandas as pd

    if style == "table":
        table = table.assign(**{column: table[column].map(lambda share: "n/a" if pd.isna(share) else f"{share:.0%}")
                                for column in table.columns if column.startswith("within_")})
        table = table.astype("string").fillna("n/a")
    write_table(table, style, empty="No sent nudges to follow.")


def _run_nudge_outcomes(args) -> int:
    from fleetanalysis import nudges, outcomes

    state_path = args.state or nudges.default_state(fleet_inputs(args).store)
    messages = nudges.read_history(state_path)
    if messages is None:
        raise BadInput(state_path, "no nudge state yet (send nudges with `fleetanalysis nudges --send` first)")
    if args.history is not None:
        history = outcomes.read_history(args.history)
    else:
        history = outcomes.daily_history(fleet_at(args), messages)
    table = outcomes.breakdown(outcomes.follow(messages, history, answers=nudges.read_answers(state_path)))
    _write_outcomes(table, args.format)
    warning = outcomes.habituation(table)
    if warning:
        print(f"fleetanalysis: warning: {warning}", file=sys.stderr)
    return 0


def _directory(inputs):
    """The run's directory table, or None: it turns an email on the opt-out list into the user id logs name."""
    from fleetanalysis import org

    return org.load_directory(inputs.directory) if inputs.directory is not None else None


def _run_nudges(args) -> int:
    import pandas as pd

    from fleetanalysis import days, nudges, policy
    from fleetanalysis.writing import check_writable

    if args.action == "outcomes":
        return _run_nudge_outcomes(args)
    now = pd.Timestamp.now(tz="UTC")
    state_path = args.state or nudges.DEFAULT_STATE
    if args.send:
        check_writable(state_path, "nudge state")
    # Every input file is read before the fleet is judged (seconds on a real store).
    if args.opt_out is not None and not args.opt_out.is_file():
        raise BadInput(args.opt_out, "no such opt-out file" if not args.opt_out.exists() else "not a file")
    inputs = fleet_inputs(args)
    opt_out = nudges.read_opt_out(args.opt_out, _directory(inputs)) if args.opt_out else None
    league = nudges.read_table(args.league, "league") if args.league is not None else None
    if args.devices is not None:
        devices = nudges.read_table(args.devices)
        if args.league_channel and league is None:
            raise BadInput("--league", "give the league table to post with --league-channel and --devices")
    else:
        if args.send and inputs.demo:
            raise BadInput("nudges --send", "no logs are configured, so the fleet is the demo organisation's "
                           "made-up people: configure real logs (fleetanalysis.toml) or give --store")
        run = fleet_at(args)
        devices, day = run.devices, run.as_of
        if args.league_channel and league is None:
            league = _nudges_league(run)
        print(f"devices seen in the {run.window_days} days before {day:%Y-%m-%d}: {len(devices)}",
              file=sys.stderr)
    as_of = now if args.as_of is None else days.utc(args.as_of)
    ladder = policy.read_nudges(inputs.policy)
    args.cooldown_days = ladder.cooldown_days if args.cooldown_days is None else args.cooldown_days
    args.max = ladder.max_messages if args.max is None else args.max
    args.stop_after = ladder.stop_after_unanswered if args.stop_after is None else args.stop_after
    if not args.send:
        planned = nudges.plan(devices, nudges.read_history(state_path), as_of,
                              args.cooldown_days, args.max, opt_out, nudges.read_answers(state_path),
                              args.stop_after, ladder)
        _write_plan(planned, args.format)
        if args.league_channel:
            print(nudges.league_message(league)[0], file=sys.stderr)
        print(f"dry run: {planned['action'].eq('send').sum()} to send, "
              f"{planned['action'].eq('skip').sum()} skipped; add --send to deliver", file=sys.stderr)
        return 0
    client = nudges.slack_client(args.token_env, args.base_url)
    with nudges.State(state_path) as state:
        resolved = nudges.resolve(client, state, now)
        if any(resolved.values()):
            print("earlier unconfirmed messages: " + ", ".join(f"{outcome} {count}" for outcome, count
                                                               in resolved.items()), file=sys.stderr)
        planned = nudges.plan(devices, state.history(), as_of, args.cooldown_days, args.max, opt_out,
                              state.answers(), args.stop_after, ladder)
        result = nudges.send(planned, client, state, now, args.cooldown_days, progress=None, opt_out=opt_out)
        _write_plan(result, args.format)
        if args.league_channel:
            print(f"league: {nudges.post_league(league, client, state, args.league_channel, now)}",
                  file=sys.stderr)
    counts = result["outcome"].value_counts()
    print(", ".join(f"{outcome} {counts.get(outcome, 0)}"
                    for outcome in ("sent", "failed", "unconfirmed", "skipped")), file=sys.stderr)
    return 1 if counts.get("failed", 0) or counts.get("unconfirmed", 0) else 0


def add_slack_events(commands) -> None:
    parser = commands.add_parser(
        "slack-events", help="receive Slack button presses on nudges (Updated, snooze, Not my device)",
        description="Serve Slack's interactivity requests: point the Slack app's Interactivity Request "
                    "URL at this address (behind your HTTPS proxy). Every request must carry a valid "
                    "signature (the app's signing secret, read from the environment variable "
                    "--secret-env names) no older than five minutes and never seen before; answers are "
                    "recorded once in the nudge state, which the next plan honours. Ctrl-C or SIGTERM "
                    "(systemctl stop) stops it after answering the request in hand, exit status 0.")
    parser.add_argument("--port", type=whole_number(1, 65535), required=True, metavar="N", help="TCP port")
    parser.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                        help="address to listen on (default: %(default)s; a proxy forwards Slack's requests)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="SQLite nudge state (default: data/processed/nudges.sqlite)")
    parser.add_argument("--secret-env", default="SLACK_SIGNING_SECRET", metavar="NAME",
                        help="environment variable holding the app's signing secret (default: %(default)s)")
    parser.set_defaults(run=_run_slack_events)


# How long a stopping slack-events waits for the request in hand (systemd's TimeoutStopSec is 90).
_ANSWER_GRACE_SECONDS = 10


def _run_slack_events(args) -> int:
    from fleetanalysis import answers, nudges, slack

    secret = slack.token_from_env(args.secret_env, "the app's Signing Secret (Basic Information page)",
                                  what="Slack signing secret")
    state_path = args.state or nudges.DEFAULT_STATE
    with nudges.State(state_path, lock=False):
        pass  # created (or upgraded) now, so that a bad path is one line before serving
    try:
        server = answers.server(state_path, secret, args.host, args.port)
    except OSError as error:
        raise BadInput(f"{args.host}:{args.port}", "cannot listen", error.strerror or type(error).__name__) from None
    print(f"slack-events: listening on http://{args.host}:{server.server_address[1]}/ "
          f"for Slack interactivity requests (Ctrl-C or SIGTERM stops)", file=sys.stderr, flush=True)
    # Served from a thread so that a stop lets the request in hand be answered and recorded
    # (``shutdown`` waits for it) instead of raising in the middle of it.
    done = threading.Event()

    def serve() -> None:
        try:
            server.serve_forever()
        finally:
            done.set()

    threading.Thread(target=serve, name="slack-events", daemon=True).start()
    stopped = None
    try:
        done.wait()
    except (KeyboardInterrupt, Stopped) as stop:
        threading.Thread(target=server.shutdown, daemon=True).start()
        done.wait(_ANSWER_GRACE_SECONDS)
        stopped = stop if isinstance(stop, Stopped) else "stopped"
    finally:
        # Waits for the requests in hand to be answered and recorded; a client that stalls
        # is dropped after answers.IDLE_SECONDS.
        server.server_close()
    if stopped is not None:
        # Stopping is how a service ends: exit 0, which systemd counts as a clean stop.
        print(f"slack-events: {stopped}", file=sys.stderr)
    return 0
