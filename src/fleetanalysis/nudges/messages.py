"""What a nudge says in Slack: the DM asking one person to update, and the office league.

Each gives the plain-text fallback and Block Kit blocks built by ``slack_sdk.models.blocks``
(which checks Slack's limits); every log-borne text is escaped for mrkdwn by
``advice.escape_mrkdwn``, because versions and client names come from attacker-shaped
user agents. How to update each platform and app is ``advice``'s.

Examples:
    >>> text, blocks = league_message(pd.DataFrame({"office": ["Oslo"], "rank": [1], "share": [1.0],
    ...     "change": [0.0]}))
    >>> text.splitlines()[1], [block["type"] for block in blocks]
    ('1. Oslo: 100% (no change)', ['header', 'section', 'context'])
"""

from __future__ import annotations

import pandas as pd
from slack_sdk.models.blocks import (
    ActionsBlock, ButtonElement, ContextBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock,
)

from fleetanalysis.metrics import or_newer
from fleetanalysis.nudges.advice import PLATFORM_LABEL, escape_mrkdwn, plain_reasons, running_version, update_steps

# Block Kit refuses a message with more than 50 blocks; leave room for header and context.
MAX_DEVICE_BLOCKS = 40
# The buttons on each DM (answered through `fleetanalysis slack-events`, module answers).
ANSWER_ACTIONS = {"fleetanalysis_updated": "updated", "fleetanalysis_snooze": "snooze",
                  "fleetanalysis_not_mine": "not_mine"}
# Slack refuses a button value longer than this; such a device gets no "Not my device" button.
MAX_BUTTON_VALUE = 2000


def message(devices: list[dict], reminder: bool = False) -> tuple[str, list[dict]]:
    """The plain-text fallback and Block Kit blocks asking one person to update
    ``devices`` (records of the devices frame, None for missing values); with
    ``reminder``, the ladder's second, more urgent DM about devices still behind.

    Examples:
        >>> text, blocks = message([{"platform": "macOS", "device_class": "desktop",
        ...     "os_version": "13.1", "clients": "Chrome <b>", "verdict": "outdated",
        ...     "reason": "behind 13.7", "target": "13.7.8"}])
        >>> [block["type"] for block in blocks]
        ['header', 'section', 'section', 'actions', 'context']
        >>> [element["text"]["text"] for element in blocks[3]["elements"]]
        ['Updated', 'Remind me in 3 days']
        >>> "Chrome &lt;b&gt;" in text
        True
    """
    count = len(devices)
    noun = "device needs" if count == 1 else f"{count} devices need"
    intro = (f"Hi! Your {noun} an update. Updates close security holes that attackers "
             "already know about, and take a few minutes:")
    header = "Time for a quick update"
    if reminder:
        noun = "device is" if count == 1 else f"{count} devices are"
        intro = (f"A reminder: your {noun} still behind, days after we first asked. Attackers "
                 "target known holes soonest after they are published; please update today:")
        header = "Reminder: your update is still waiting"
    blocks = [HeaderBlock(text=PlainTextObject(text=header)),
              SectionBlock(text=MarkdownTextObject(text=intro))]
    lines = [intro]
    reasons = []
    for row in devices[:MAX_DEVICE_BLOCKS]:
        name = PLATFORM_LABEL.get(row.get("platform"), escape_mrkdwn(row.get("platform")) or "Device")
        running = escape_mrkdwn(running_version(row))
        clients = escape_mrkdwn(row.get("clients"))
        target = escape_mrkdwn(_target(row)) or "the latest version"
        # Menu paths read better with an arrow than with an escaped ">".
        steps = " ".join(update_steps(row)).replace(" > ", " › ") or "Install the latest updates offered for it."
        steps = escape_mrkdwn(steps, limit=None)
        fields = [MarkdownTextObject(text=f"*{name}*\n{running or 'version unknown'}"),
                  MarkdownTextObject(text=f"*Update to*\n{target}")]
        if clients:
            fields.append(MarkdownTextObject(text=f"*Apps seen*\n{clients}"))
        device_id = row.get("device_id")
        disown = (ButtonElement(text="Not my device", action_id="fleetanalysis_not_mine", value=device_id)
                  if isinstance(device_id, str) and 0 < len(device_id) <= MAX_BUTTON_VALUE else None)
        blocks.append(SectionBlock(fields=fields, text=MarkdownTextObject(text=steps), accessory=disown))
        lines.append(f"- {name} ({running}{'; ' + clients if clients else ''}): update to {target}. "
                     f"{steps}")
        reasons.extend(escape_mrkdwn(reason, limit=None) for reason in plain_reasons(row.get("reason")))
    if count > MAX_DEVICE_BLOCKS:
        more = f"…and {count - MAX_DEVICE_BLOCKS} more devices."
        blocks.append(SectionBlock(text=MarkdownTextObject(text=more)))
        lines.append(more)
    why = ("Why: this device" if count == 1 else "Why: these devices") + \
        " signed in to work apps recently on a version that is behind. "
    said = "; ".join(list(dict.fromkeys(reasons))[:10])
    # A sentence starts with a capital, unless its first word is a product's own spelling (iOS).
    why += (said[:1].upper() + said[1:] if said.split(" ", 1)[0].islower() else said) + ". " if said else ""
    why += "Thank you!"
    blocks.append(ActionsBlock(block_id="fleetanalysis_answer", elements=[
        ButtonElement(text="Updated", action_id="fleetanalysis_updated", value="updated", style="primary"),
        ButtonElement(text="Remind me in 3 days", action_id="fleetanalysis_snooze", value="snooze"),
    ]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=why)]))
    lines.append(why)
    # to_dict() checks each block against Slack's limits (SlackObjectFormationError).
    return "\n".join(lines), [block.to_dict() for block in blocks]


def _target(device: dict) -> str | None:
    """What to install on ``device``: ``fix`` (``metrics.fix_targets``, the report's words)
    when planning added it, else its own ``target``, worded alike."""
    if isinstance(device.get("fix"), str):
        return device["fix"]
    if isinstance(device.get("target"), str) and device["target"]:
        return "; ".join(or_newer(part.strip()) for part in device["target"].split(";") if part.strip())
    return None


def league_message(league: pd.DataFrame, title: str = "Office league: devices up to date") -> tuple[str, list[dict]]:
    """The text and blocks of the office league: offices ranked by share of devices up to date.

    ``league`` is ``metrics.league()``: ``rank`` (NA when nothing was judged), ``office``,
    ``share`` (0-1) and ``change`` (since the previous period, 0-1 scale, NaN when new).

    Examples:
        >>> text, blocks = league_message(pd.DataFrame({"office": ["Oslo", "<!here>"], "rank": [1, 2],
        ...     "share": [0.97, 0.8], "change": [0.05, pd.NA]}))
        >>> print(text)
        Office league: devices up to date
        1. Oslo: 97% (+5 pts)
        2. &lt;!here&gt;: 80% (new)
    """
    lines = []
    for row in league.sort_values("rank", na_position="last").to_dict("records"):
        share = row["share"]
        change = row.get("change")
        if change is None or pd.isna(change):
            delta = "new"
        else:
            points = round(float(change) * 100)
            delta = "no change" if points == 0 else f"{points:+d} pts"
        shown = "n/a" if pd.isna(share) else f"{float(share):.0%}"
        place = "-" if pd.isna(row["rank"]) else str(int(row["rank"]))
        lines.append(f"{place}. {escape_mrkdwn(row['office'])}: {shown} ({delta})")
    body = "\n".join(lines) or "No judged devices this week."
    # Slack refuses a header over 150 characters and a section over 3000 (slack_sdk checks
    # it); a long league is cut rather than refused.
    blocks = [
        HeaderBlock(text=PlainTextObject(text=title[:HeaderBlock.text_max_length])),
        SectionBlock(text=MarkdownTextObject(text=body[:SectionBlock.text_max_length])),
        ContextBlock(elements=[MarkdownTextObject(
            text="Share of each office's devices on a current release (or within its grace period). "
                 "Change is since the previous week.")]),
    ]
    return f"{title}\n{body}", [block.to_dict() for block in blocks]
