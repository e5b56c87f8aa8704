"""Who owns a device and where they sit: the directory first, the office network second.

A device is placed in an office from the people directory (matched on ``user_id``,
then on the e-mail address in ``user``); when the directory does not know the user, the
device's most recent IP address is looked up in the office networks (the longest
matching CIDR wins). A device found in neither is counted under ``"Unknown office"``
and ``"Unknown department"``: it is never dropped, because an unplaced device is
still a device in the fleet.

The directory may grant an exemption (``exempt_until``): until that date the device is
left out of rates and listed by ``metrics.exempt``. It is judged at the date of the
frame (the ``as_of`` column of a timeline, else the ``as_of`` argument, else the
device's ``last_seen``), so an exemption that has run out no longer hides the device.

Examples:
    >>> import pandas as pd
    >>> devices = pd.DataFrame({"user_id": ["U1", pd.NA], "user": ["a@x.org", "b@x.org"],
    ...                         "ip": ["10.0.0.5", "192.0.2.9"]})
    >>> directory = pd.DataFrame({"user_id": ["U1"], "email": ["a@x.org"], "office": ["Oslo"],
    ...                           "department": ["Sales"]})
    >>> assign(devices, directory)["office"].tolist()
    ['Oslo', 'Unknown office']
"""

from __future__ import annotations

import ipaddress
import logging
import os

import numpy as np
import pandas as pd

from fleetanalysis.codes import code_type, combine, firsts, value_codes
from fleetanalysis.days import utc_day
from fleetanalysis.errors import BadInput, reading_problem

UNKNOWN_OFFICE = "Unknown office"
UNKNOWN_DEPARTMENT = "Unknown department"
OWNERSHIPS = ("managed", "personal")

_log = logging.getLogger(__name__)
_SAID: set[str] = set()
DIRECTORY_COLUMNS = ["user_id", "email", "office", "department", "ownership", "exempt_until"]


def _read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Every cell as text (ids such as ``007`` must keep their zeros), or BadInput."""
    try:
        # utf-8-sig: spreadsheets exporting "CSV UTF-8" put a byte-order mark before the header.
        return pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""],
                           skipinitialspace=True, encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(path, "no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise BadInput(path, "cannot read as CSV", reading_problem(error)) from None


def load_directory(path: str | os.PathLike) -> pd.DataFrame:
    """Read the people directory CSV: who sits in which office and department.

    Columns ``user_id`` and/or ``email`` (at least one), ``office``, ``department``,
    optionally ``ownership`` (``managed`` or ``personal``) and ``exempt_until``
    (YYYY-MM-DD). Returns all six columns: text columns as ``str``, e-mails lower-cased,
    ``exempt_until`` as ``datetime64[us]`` (NaT where empty). Raises BadInput naming the
    file and the problem (missing column, unreadable file, bad date or ownership).

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "people.csv"
        >>> _ = path.write_text("email,office,department,exempt_until\\nA@X.org,Oslo,IT,2026-12-31\\n")
        >>> row = load_directory(path).iloc[0]
        >>> row["email"], row["office"], str(row["exempt_until"].date())
        ('a@x.org', 'Oslo', '2026-12-31')
    """
    table = _read_csv(path)
    table.columns = [str(column).strip().lower() for column in table.columns]
    # pandas renames a repeated column ("office.1"), or keeps two differing in case: which
    # one the file means is not for us to guess.
    named = [str(column).strip().lower() for column in _read_header(path)]
    twice = [column for column in DIRECTORY_COLUMNS if named.count(column) > 1]
    if twice:
        raise BadInput(path, "header", f"column {twice[0]!r} appears {named.count(twice[0])} times; keep one")
    if "user_id" not in table and "email" not in table:
        raise BadInput(path, "header", "missing column 'user_id' or 'email'")
    for column in ("office", "department"):
        if column not in table:
            raise BadInput(path, "header", f"missing column {column!r}")
    for column in DIRECTORY_COLUMNS:
        if column not in table:
            table[column] = pd.Series(pd.NA, index=table.index, dtype="str")
    table = table[DIRECTORY_COLUMNS].astype({c: "str" for c in DIRECTORY_COLUMNS})
    for column in DIRECTORY_COLUMNS:
        table[column] = table[column].str.strip().replace("", pd.NA)
    table["email"] = table["email"].str.lower()
    table["ownership"] = table["ownership"].str.lower()
    strange = table["ownership"].notna() & ~table["ownership"].isin(OWNERSHIPS)
    if strange.any():
        row = int(strange.to_numpy().nonzero()[0][0])
        raise BadInput(path, f"record {row + 1}",
                       f"ownership must be managed or personal, not {table['ownership'].iloc[row]!r}")
    exempt = pd.to_datetime(table["exempt_until"], errors="coerce", format="%Y-%m-%d")
    unreadable = table["exempt_until"].notna() & exempt.isna()
    if unreadable.any():
        row = int(unreadable.to_numpy().nonzero()[0][0])
        raise BadInput(path, f"record {row + 1}", "exempt_until is not a date (use YYYY-MM-DD)")
    table["exempt_until"] = exempt.astype("datetime64[us]")
    _warn_listed_twice(table, path)
    return table


def _read_header(path: str | os.PathLike) -> list[str]:
    """The column names of a CSV as written, repeats kept."""
    return pd.read_csv(path, header=None, nrows=1, dtype="str", keep_default_na=False,
                       encoding="utf-8-sig").iloc[0].tolist()


def _warn_listed_twice(table: pd.DataFrame, path) -> None:
    """One line for people the directory lists twice with different offices or departments
    (a merged export): the last row is the one used, as ``assign`` reads it."""
    said = pd.Series(False, index=table.index)
    for key in ("user_id", "email"):
        # A person said under their id is not said again under their email.
        listed = table[~said].dropna(subset=[key])
        # Only keys listed twice can differ: most directories have none.
        listed = listed[listed[key].duplicated(keep=False)]
        differ = listed.groupby(key)[["office", "department"]].nunique(dropna=False).gt(1).any(axis=1)
        said |= table[key].isin(differ.index[differ.to_numpy()])
        if differ.any():
            first = differ.index[differ.to_numpy()][0]
            records = (listed.index[listed[key] == first] + 1).tolist()
            line = (f"{path}: {int(differ.sum())} {'person is' if differ.sum() == 1 else 'people are'} listed "
                    f"more than once with different offices or departments ({key} {first}: records "
                    f"{', '.join(map(str, records))}); the last record of each is used")
            # Once per run, however often the run reads the directory.
            if line not in _SAID:
                _SAID.add(line)
                _log.warning("%s", line)


def load_networks(path: str | os.PathLike) -> pd.DataFrame:
    """Read the office networks CSV (``cidr, office``; IPv4 and IPv6).

    Returns ``cidr`` (normalised text), ``office``, ``prefix`` (int, longest wins).
    A network that is not a network raises BadInput naming the line (the header is line 1).

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "networks.csv"
        >>> _ = path.write_text("cidr,office\\n10.1.0.0/16,Oslo\\n2001:db8::/32,Lima\\n10.1.2.0/24,Bergen\\n")
        >>> load_networks(path)["cidr"].tolist()
        ['10.1.2.0/24', '10.1.0.0/16', '2001:db8::/32']
        >>> _ = path.write_text("cidr,office\\n10.1.0.0/16,Oslo\\n10.1.0.300/24,Bad\\n")
        >>> load_networks(path)
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: ...networks.csv: line 3: not a network: '10.1.0.300/24'
    """
    table = _read_csv(path)
    table.columns = [str(column).strip().lower() for column in table.columns]
    for column in ("cidr", "office"):
        if column not in table:
            raise BadInput(path, "header", f"missing column {column!r}")
    networks = []
    for line, (cidr, office) in enumerate(zip(table["cidr"], table["office"]), start=2):
        try:
            # strict=False: 10.1.2.3/16 means the network 10.1.0.0/16, as routers read it.
            network = ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            raise BadInput(path, f"line {line}", f"not a network: {cidr!r}") from None
        if pd.isna(office) or not str(office).strip():
            raise BadInput(path, f"line {line}", "no office")
        networks.append((str(network), str(office).strip(), network.prefixlen, network.version))
    frame = pd.DataFrame(networks, columns=["cidr", "office", "prefix", "family"])
    # Longest prefix first, IPv6 after IPv4 only to make the order stable.
    frame = frame.sort_values(["family", "prefix"], ascending=[True, False], kind="stable")
    return frame.drop(columns="family").reset_index(drop=True).astype(
        {"cidr": "str", "office": "str", "prefix": "int64"})


def office_by_network(ips: pd.Series, networks: pd.DataFrame) -> pd.Series:
    """The office of each IP address by the longest matching network, NA when none.

    Each distinct address is parsed once; text that is not an address matches nothing.

    Examples:
        >>> nets = pd.DataFrame({"cidr": ["10.1.2.0/24", "10.1.0.0/16", "2001:db8::/32"],
        ...                      "office": ["Bergen", "Oslo", "Lima"], "prefix": [24, 16, 32]})
        >>> office_by_network(pd.Series(["10.1.2.9", "10.1.9.9", "2001:db8::1", "junk", None]), nets).tolist()
        ['Bergen', 'Oslo', 'Lima', nan, nan]
    """
    codes, uniques = pd.factorize(ips.astype("str"))
    parsed = [ipaddress.ip_network(cidr) for cidr in networks["cidr"]]
    ranked = sorted(zip(parsed, networks["office"]), key=lambda pair: -pair[0].prefixlen)
    offices = []
    for text in uniques:
        try:
            address = ipaddress.ip_address(str(text).strip())
        except ValueError:
            offices.append(pd.NA)
            continue
        offices.append(next((office for network, office in ranked
                             if network.version == address.version and address in network), pd.NA))
    found = pd.array(offices + [pd.NA], dtype="str")
    return pd.Series(found.take(codes), index=ips.index, dtype="str")


def assign(devices: pd.DataFrame, directory: pd.DataFrame | None = None,
           networks: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
    """Add ``office, department, ownership, exempt_until, exempt`` to a devices frame.

    ``devices`` needs ``user_id``, ``user`` and ``ip`` (a snapshot, a timeline, or any
    frame with those). ``office`` comes from the directory (by ``user_id``, then by the
    lower-cased ``user`` as e-mail), else from ``networks`` by ``ip``, else
    ``"Unknown office"``; ``department`` likewise falls back to ``"Unknown department"``.
    ``exempt`` is true while ``exempt_until`` is on or after the frame's date (its
    ``as_of`` column, else ``as_of``, else ``last_seen``). Each distinct
    (``user_id``, ``user``, ``ip``) is placed once, so a 52-week timeline costs little
    more than the snapshot of its newest week. ``office``, ``department`` and
    ``ownership`` are ``str``, or categoricals (categories sorted) when ``user_id``,
    ``user`` and ``ip`` are, as in a timeline.

    Examples:
        >>> devices = pd.DataFrame({"user_id": ["U1", "U2"], "user": [pd.NA, "b@x.org"],
        ...                         "ip": ["192.0.2.1", "10.1.2.3"]})
        >>> directory = pd.DataFrame({"user_id": ["U1"], "email": [pd.NA], "office": ["Oslo"],
        ...     "department": ["IT"], "ownership": ["managed"],
        ...     "exempt_until": pd.to_datetime(["2026-06-30"]).astype("datetime64[us]")})
        >>> nets = pd.DataFrame({"cidr": ["10.1.0.0/16"], "office": ["Bergen"], "prefix": [16]})
        >>> placed = assign(devices, directory, nets, as_of="2026-06-01")
        >>> placed[["office", "department", "exempt"]].values.tolist()
        [['Oslo', 'IT', True], ['Bergen', 'Unknown department', False]]
    """
    # Without networks the address places nobody: people are told apart by who they are
    # alone (a 10M-event timeline: 49,031 people against 85,559 (person, address) pairs, and
    # one column fewer to code over its 4 million rows).
    by_network = networks is not None and len(networks) > 0
    codes, people = _distinct_people(devices, ("user_id", "user", "ip") if by_network else ("user_id", "user"))
    found = _place(people, directory, networks if by_network else None)
    until = found["exempt_until"].to_numpy().take(codes)
    # Shallow: with copy-on-write the caller's frame is never changed by the new columns.
    placed = devices.copy(deep=False)
    # A timeline's user columns are categoricals (a device's text repeats every week): its
    # places are too, coded per distinct person rather than written out per row.
    categorical = all(isinstance(devices[column].dtype, pd.CategoricalDtype) for column in ("user_id", "user", "ip"))
    for column in ("office", "department", "ownership"):
        placed[column] = pd.Series(_places(found[column], codes, categorical), index=devices.index)
    placed["exempt_until"] = pd.Series(until, index=devices.index, dtype="datetime64[us]")
    # NaT on either side compares false: no exemption, or no date to judge it at.
    placed["exempt"] = pd.Series(until >= _frame_dates(devices, as_of), index=devices.index,
                                 dtype="bool")
    return placed


def _places(places: pd.Series, codes: np.ndarray, categorical: bool):
    """``places`` (one per distinct person) at each row's person ``codes``: ``str``, or a
    categorical whose categories are the places named, sorted."""
    if not categorical:
        return pd.array(places.array.take(codes), dtype="str")
    ranks, names = pd.factorize(places, sort=True)
    lookup = ranks.astype(code_type(len(names)))
    return pd.Categorical.from_codes(lookup[codes], dtype=pd.CategoricalDtype(pd.Index(names, dtype="str")),
                                     validate=False)


def _distinct_people(devices: pd.DataFrame,
                     names: tuple[str, ...] = ("user_id", "user", "ip")) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's code and the distinct combination of ``names`` columns it stands for.

    Works for text and categorical columns; NA is a value of its own.
    """
    coded = [value_codes(devices[column]) for column in names]
    codes = combine([column_codes for column_codes, _ in coded], sort=False)
    first = firsts(codes)
    people = pd.DataFrame({column: np.asarray(values.astype("str"), dtype=object).take(column_codes[first])
                           for column, (column_codes, values) in zip(names, coded)}, dtype="str")
    return codes, people


def resolve_people(facts: pd.DataFrame, directory: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``person``: one key per human, whichever source saw them.

    Slack, Okta, Entra and GitHub each name a user in their own terms (``U0ANA0001``,
    ``00u1ab...``, a UPN, a login), so a phone seen by Slack and by Okta would otherwise
    be two devices. ``person`` is, in order:

    * the directory's ``user_id`` (its ``email`` where it has no id) when the row's
      ``user_id`` is a directory id, or its ``user`` (trimmed, any case) a directory e-mail;
    * else the lower-cased e-mail in ``user``: an address is the same mailbox in every source;
    * else ``<source>:<user_id or user>``: a raw id only means something inside its
      source, so people the directory does not know are never merged on a guess
      (a Slack id is not an Okta id, a GitHub login is not a display name);
    * NA when the row names nobody.

    Rows of one account (one ``source`` and ``user_id``) are one person whatever ``user``
    they name: a renamed login or e-mail (Okta's ``alternateId``) is still the same account.

    ``facts`` needs ``user_id`` and ``user`` (``source`` where there are several); the
    frame is returned with the column added, the access store itself is never changed.
    The key is found once per distinct (``source``, ``user_id``, ``user``), not per row.

    Examples:
        >>> facts = pd.DataFrame({"source": ["slack_access", "okta", "entra", "okta", "github"],
        ...     "user_id": ["U1", "00u1", "9f1c", "00u7", "583231"],
        ...     "user": ["ana", "Ana@X.org", "ana@x.org", "Bo@X.org", "octocat"]})
        >>> directory = pd.DataFrame({"user_id": ["U1"], "email": ["ana@x.org"], "office": ["Oslo"],
        ...                           "department": ["IT"]})
        >>> resolve_people(facts, directory)["person"].tolist()
        ['U1', 'U1', 'U1', 'bo@x.org', 'github:583231']
        >>> renamed = pd.DataFrame({"source": ["okta", "okta"], "user_id": ["00u7", "00u7"],
        ...                         "user": ["bo@x.org", "robert@x.org"]})
        >>> resolve_people(renamed)["person"].tolist()
        ['bo@x.org', 'bo@x.org']
    """
    frame = facts if "source" in facts else facts.assign(source=pd.NA)
    codes, distinct = _distinct_people(frame, ("source", "user_id", "user"))
    user_id = distinct["user_id"].str.strip().replace("", pd.NA)
    user = distinct["user"].str.strip().replace("", pd.NA)
    email = user.str.lower().where(user.str.contains("@", regex=False).fillna(False))
    raw = (distinct["source"].fillna("unknown") + ":" + user_id.fillna(user))
    person = email.fillna(raw)
    listed = pd.Series(pd.NA, index=distinct.index, dtype="object")
    if directory is not None and len(directory):
        known = directory.reindex(columns=DIRECTORY_COLUMNS).astype("str")
        known = known.assign(email=known["email"].str.strip().str.lower(), user_id=known["user_id"].str.strip())
        canonical = known["user_id"].fillna(known["email"])
        by_id = pd.Series(canonical.to_numpy(), index=known["user_id"]).dropna()
        by_id = by_id[by_id.index.notna()]
        by_email = pd.Series(canonical.to_numpy(), index=known["email"])
        by_email = by_email[by_email.index.notna()]
        # keep="last": a later directory row wins, as it does when placing offices.
        by_id = by_id[~by_id.index.duplicated(keep="last")]
        by_email = by_email[~by_email.index.duplicated(keep="last")]
        listed = user_id.map(by_id).fillna(email.map(by_email))
        person = listed.fillna(person)
    # An account keeps its id when its login or e-mail changes (an Okta or Entra rename): all
    # rows of one (source, user_id) are one person, the directory's where it lists any of them.
    account = (distinct["source"].fillna("unknown") + "\x00" + user_id)[user_id.notna()]
    if account.duplicated().any():
        ranked = pd.DataFrame({"account": account, "person": person[account.index],
                               "listed": listed[account.index].notna()})
        chosen = (ranked.sort_values(["listed", "person"], ascending=[False, True], kind="stable")
                  .drop_duplicates("account").set_index("account")["person"])
        person = person.copy()
        person[account.index] = account.map(chosen).to_numpy()
    return facts.assign(person=pd.Series(person.astype("str").array.take(codes), index=facts.index))


def _place(people: pd.DataFrame, directory: pd.DataFrame | None,
           networks: pd.DataFrame | None) -> pd.DataFrame:
    """``office, department, ownership, exempt_until`` per row of ``user_id, user, ip``."""
    office = pd.Series(pd.NA, index=people.index, dtype="str")
    department = office.copy()
    ownership = office.copy()
    exempt_until = pd.Series(pd.NaT, index=people.index, dtype="datetime64[us]")
    if directory is not None and len(directory):
        directory = directory.reindex(columns=DIRECTORY_COLUMNS).astype(
            {**{column: "str" for column in DIRECTORY_COLUMNS[:-1]}, "exempt_until": "datetime64[us]"})
        by_id = directory.dropna(subset=["user_id"]).drop_duplicates("user_id", keep="last")
        by_email = directory.dropna(subset=["email"]).drop_duplicates("email", keep="last")
        keys = [("user_id", people["user_id"], by_id),
                ("email", people["user"].str.strip().str.lower(), by_email)]
        for column, key, known in keys:
            # get_indexer hashes; Series.isin on arrow text loops in Python over the directory.
            row = pd.Index(known[column]).get_indexer(key)
            hit = office.isna() & (row >= 0)
            if not hit.any():
                continue
            found = known.iloc[row[hit.to_numpy()]]
            office[hit] = found["office"].to_numpy()
            department[hit] = found["department"].to_numpy()
            ownership[hit] = found["ownership"].to_numpy()
            exempt_until[hit] = found["exempt_until"].to_numpy()
    # A directory row with no office still leaves the network to place the device.
    if networks is not None and len(networks) and len(people):
        missing = office.isna()
        office[missing] = office_by_network(people.loc[missing, "ip"], networks)
    return pd.DataFrame({"office": office.fillna(UNKNOWN_OFFICE),
                         "department": department.fillna(UNKNOWN_DEPARTMENT),
                         "ownership": ownership, "exempt_until": exempt_until})


def _frame_dates(devices: pd.DataFrame, as_of) -> np.ndarray:
    """The day each row speaks for (naive ``datetime64[us]``): as_of column, argument, or last_seen.

    Normalised per distinct date: a timeline has a few dozen dates over millions of rows.
    """
    if "as_of" in devices:
        column = devices["as_of"]
    elif as_of is not None:
        column = pd.Series(pd.Timestamp(as_of), index=devices.index)
    elif "last_seen" in devices:
        column = devices["last_seen"]
    else:
        return np.full(len(devices), np.datetime64("NaT"), dtype="datetime64[us]")
    codes, dates = pd.factorize(column, use_na_sentinel=False)
    return utc_day(pd.Series(dates)).to_numpy().take(codes)
