"""The settings and policy files, checked at the edge into typed objects.

``fleetanalysis.toml`` is read here and validated with pydantic models, as are the
``[nudges]`` of a policy; the rest of a policy file is modelled where the policy is read
(``policy.rules``, which knows the catalog's products) with the same ``check``, so a wrong type, an unknown key or an impossible value stops the run with one
``BadInput`` line naming the file, the key and the problem (with the nearest valid key
when a name is misspelt) instead of a traceback somewhere in the middle of the pipeline.

Examples:
    >>> import pathlib, tempfile
    >>> mine = pathlib.Path(tempfile.mkdtemp()) / "fleetanalysis.toml"
    >>> _ = mine.write_text('[data]\\nlog = "data/raw/slack"\\n')
    >>> read_settings(mine)
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: ...fleetanalysis.toml: data.log: unknown key (did you mean 'logs'?)
    >>> _ = mine.write_text('[data]\\nlogs = "data/raw/slack"\\n')
    >>> read_settings(mine).data.logs
    ['data/raw/slack']
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from fleetanalysis.errors import BadInput

# The longest span of days a setting takes (a hundred years). config.MAX_DAYS bounds the
# command-line options with the same figure; a test keeps the two equal. It is written
# twice so that config, the bottom of the package, imports nothing above it.
MAX_DAYS = 36_500


class _Table(BaseModel):
    """A TOML table: the types as written (no "5" for 5), no keys beyond the documented ones."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _path_text(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a path cannot hold a NUL character")
    return text


def _listed(value):
    """``logs = "one/path"`` is the same as a list of that one path."""
    return [value] if isinstance(value, str) else value


PathText = Annotated[str, Field(min_length=1), AfterValidator(_path_text)]
Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]


class DataTable(_Table):
    """``[data]`` of ``fleetanalysis.toml``: where the logs, directory and store are."""

    # Left out, no logs are configured (the demo organisation); an empty list is a slip.
    logs: Annotated[list[PathText], BeforeValidator(_listed), Field(min_length=1)] = []
    directory: PathText | None = None
    networks: PathText | None = None
    policy: PathText | None = None
    catalog: PathText | None = None
    store: PathText | None = None


class SettingsFile(_Table):
    """The whole ``fleetanalysis.toml``."""

    data: DataTable = DataTable()


# Channel (C public, G private) or member (U, W on Enterprise Grid) ids, as Slack's API
# takes them (names like "#oslo" are no longer accepted; see Slack's 2017 changelog on
# usernames, summarised in the a-sync/slackr wiki); a member id means a DM to the lead.
SLACK_TARGET = re.compile(r"^[CGUW][A-Z0-9]{6,}$")


def _slack_target(text: str) -> str:
    if not SLACK_TARGET.match(text):
        raise ValueError(f"not a Slack channel id (C...) or member id (U...): {text!r}")
    return text

Messages = Annotated[int, Field(ge=0, le=100_000)]
SlackTarget = Annotated[str, AfterValidator(_slack_target)]


class ReminderStep(_Table):
    """``[nudges.reminder]``: the second, more urgent DM after a first one went unheeded."""

    enabled: bool = True
    after_days: Days = 5
    cooldown_days: Days = 7
    max_messages: Messages = 50


class OfficeStep(_Table):
    """``[nudges.office]``: device counts (never names) to an office's channel or lead."""

    enabled: bool = False
    after_days: Days = 7
    cooldown_days: Days = 7
    max_messages: Messages = 10
    channels: dict[str, SlackTarget] = {}


class NudgesTable(_Table):
    """``[nudges]`` of a policy file: the first DM, then the escalation ladder."""

    cooldown_days: Days = 7
    max_messages: Messages = 50
    stop_after_unanswered: Annotated[int, Field(ge=1, le=1000)] | None = None
    reminder: ReminderStep = ReminderStep()
    office: OfficeStep = OfficeStep()


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """The TOML file at ``path`` as a dict; ``BadInput`` naming the file when it cannot be read.

    ``what`` names the file's job in the message ("settings file", "policy file").

    >>> read_toml("/no/such/file.toml", "policy file")
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: /no/such/file.toml: no such policy file
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(path, f"no such {what}") from None
    except IsADirectoryError:
        raise BadInput(path, f"is a folder, not a {what}") from None
    except NotADirectoryError:
        raise BadInput(path, f"a part of the path is a file, not a folder: no such {what}") from None
    except OSError as error:
        raise BadInput(path, f"cannot read the {what}: {error.strerror or error}") from None
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise BadInput(path, f"line {line}", f"not UTF-8 (byte 0x{raw[error.start]:02x}); save the "
                                             f"{what} as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise BadInput(path, f"not a valid {what} (TOML: {error})") from None


def check(model: type[BaseModel], data: dict, path: str | os.PathLike) -> BaseModel:
    """``data`` validated as ``model``; the first problem as ``BadInput(path, key, problem)``.

    >>> check(NudgesTable, {"reminder": {"after_days": 10 ** 12}}, "policy.toml")
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: policy.toml: reminder.after_days: must be at most 36500 days, not 1000000000000
    >>> check(SettingsFile, {"dta": {}}, "fleetanalysis.toml")
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: fleetanalysis.toml: dta: unknown section (did you mean 'data'?)
    """
    try:
        return model.model_validate(data)
    except ValidationError as errors:
        error = errors.errors()[0]
        raise BadInput(path, _key(error["loc"]), _problem(model, error)) from None


def _key(location: tuple) -> str:
    """``data.logs[2]`` from pydantic's location, without its union-member labels."""
    key = ""
    for part in location:
        if isinstance(part, int):
            key += f"[{part}]"
        elif isinstance(part, str) and not any(mark in part for mark in "[]"):
            key += f".{part}" if key else part
    return key or "(top level)"


def _fields_at(model: type[BaseModel], location: tuple) -> list[str]:
    """The key names a table at ``location`` accepts (by their TOML names)."""
    for part in location:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            field = next((item for item in model.model_fields.values() if item.alias == part), None)
        annotation = getattr(field, "annotation", None)
        nested = [member for member in getattr(annotation, "__args__", (annotation,))
                  if isinstance(member, type) and issubclass(member, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return [field.alias or name for name, field in model.model_fields.items()]


def _problem(model: type[BaseModel], error: dict) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        *parent, name = error["loc"]
        known = _fields_at(model, tuple(parent))
        noun = "section" if not parent else "product" if parent == ["products"] else "key"
        nearest = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        return (f"unknown {noun} (did you mean {nearest[0]!r}?)" if nearest
                else f"unknown {noun} (one of {', '.join(known)})")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a TOML table, not {value!r}"
    # Most keys are days; the nudges' message caps and counts are not.
    unit = " days" if str(error["loc"][-1]).endswith("days") else ""
    if kind == "less_than_equal":
        return f"must be at most {error['ctx']['le']}{unit}, not {value!r}"
    if kind == "greater_than_equal":
        return f"must be a whole number{' of days' if unit else ''} >= {error['ctx']['ge']}, not {value!r}"
    if kind in ("int_type", "int_from_float"):
        return f"must be a whole number{' of days' if unit else ''}, not {value!r}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return "an empty list names no log: name one, or leave the key out for the demo organisation"
    if kind == "literal_error":
        return f"unknown {error['loc'][-1]} {value!r} (one of {error['ctx']['expected']})"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = error["msg"].replace("Input should be", "must be").replace(" valid ", " ")
    return f"{message}, not {value!r}"


def read_settings(path: str | os.PathLike) -> SettingsFile:
    """``fleetanalysis.toml`` read and validated (relative paths are left as written)."""
    return check(SettingsFile, read_toml(path, "settings file"), path)
