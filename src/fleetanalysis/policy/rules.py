"""The patch policy: how each product is judged (its rule, grace windows and minimum),
and the nudges' ladder, read from the shipped ``data/policy.toml`` with the user's file
over it.

Only reading and checking the policy files lives here (their pydantic models, checked by
``validation.check`` so a bad key is one line); ``verdicts.judge`` applies the rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Literal

import pandas as pd
from pydantic import AfterValidator, Field, create_model

from fleetanalysis.catalog import PRODUCTS, version_key
from fleetanalysis.config import PACKAGE_DATA
from fleetanalysis.errors import BadInput
from fleetanalysis.validation import Days, NudgesTable, _Table, check, read_toml

POLICY_FILE = PACKAGE_DATA / "policy.toml"
RULES = ("latest-in-line", "latest", "supported", "minimum")


def _version(text: str) -> str:
    if version_key(pd.Series([text])).isna().iloc[0]:
        raise ValueError(f"not a version: {text!r}")
    return text


class PolicyDefaults(_Table):
    """``[defaults]`` of a policy file."""

    grace_days: Days | None = None
    exploited_grace_days: Days | None = None


class ProductTable(_Table):
    """``[products.<product>]`` of a policy file: only the keys it sets."""

    rule: Literal[RULES] | None = None  # type: ignore[valid-type]
    grace_days: Days | None = None
    exploited_grace_days: Days | None = None
    minimum: Annotated[str, AfterValidator(_version)] | None = None


# One optional field per catalog product, so a misspelt product is an unknown key with a
# suggestion like any other; TOML names such as firefox-esr are the aliases.
PolicyProducts = create_model(
    "PolicyProducts", __base__=_Table,
    **{name.replace("-", "_"): (ProductTable | None, Field(None, alias=name)) for name in PRODUCTS})


class PolicyFile(_Table):
    """A whole policy file (the shipped one or the user's, read over it).

    >>> check(PolicyFile, {"defaults": {"grace_days": 10 ** 12}}, "policy.toml")
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: policy.toml: defaults.grace_days: must be at most 36500 days, not 1000000000000
    >>> check(PolicyFile, {"products": {"chrom": {"rule": "latest"}}}, "policy.toml")
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: policy.toml: products.chrom: unknown product (did you mean 'chrome'?)
    """

    defaults: PolicyDefaults = PolicyDefaults()
    products: PolicyProducts = PolicyProducts()  # type: ignore[valid-type]
    nudges: NudgesTable = NudgesTable()


def read_policy(path: str | os.PathLike) -> dict:
    """A policy file read and validated, as ``{"defaults": {...}, "products": {name: {...}}}``
    holding only the keys the file sets (so it can be read over another policy)."""
    policy = check(PolicyFile, read_toml(path, "policy file"), path)
    return policy.model_dump(by_alias=True, exclude_unset=True)


def read_nudges(path: str | os.PathLike | None = None) -> NudgesTable:
    """The ``[nudges]`` settings of the shipped policy with the user's file at ``path`` read
    over it (only the keys it sets), validated as one ``NudgesTable``.

    >>> import pathlib, tempfile
    >>> mine = pathlib.Path(tempfile.mkdtemp()) / "policy.toml"
    >>> _ = mine.write_text('[nudges.reminder]\\nafter_days = 3\\n')
    >>> settings = read_nudges(mine)
    >>> settings.reminder.after_days, settings.reminder.cooldown_days, settings.office.enabled
    (3, 7, False)
    >>> _ = mine.write_text('[nudges.reminder]\\nafter_dayz = 3\\n')
    >>> read_nudges(mine)
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: ...policy.toml: nudges.reminder.after_dayz: unknown key (did you mean 'after_days'?)
    """
    merged = read_policy(POLICY_FILE).get("nudges", {})
    if path is not None:
        for key, value in read_policy(path).get("nudges", {}).items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return check(NudgesTable, merged, path if path is not None else POLICY_FILE)


@dataclass(frozen=True)
class ProductPolicy:
    """How one product is judged: the rule, the grace windows, and the minimum for ``minimum``."""

    rule: str
    grace_days: int = 14
    exploited_grace_days: int = 7
    minimum: str | None = None


@dataclass(frozen=True)
class Policy:
    """The policy for every product, and the file(s) it was read from."""

    products: dict[str, ProductPolicy]
    source: str = str(POLICY_FILE)

    def rules(self) -> pd.DataFrame:
        """One row per product: ``rule, grace_days, exploited_grace_days, minimum``, indexed by product.

        Examples:
            >>> load().rules().loc["android", "rule"]
            'supported'
        """
        return pd.DataFrame(
            [{"product": name, "rule": item.rule, "grace_days": item.grace_days,
              "exploited_grace_days": item.exploited_grace_days, "minimum": item.minimum}
             for name, item in self.products.items()],
            columns=["product", "rule", "grace_days", "exploited_grace_days", "minimum"],
        ).astype({"product": "str", "rule": "str", "minimum": "str"}).set_index("product")


def load(path: str | os.PathLike | None = None) -> Policy:
    """The shipped policy, with the user's TOML file at ``path`` read over it.

    The user's file needs only the keys it changes. Each file is validated
    (``PolicyFile``): unknown products, rules or keys, and negative, huge or
    non-integer days, raise ``BadInput`` naming the file and the key.

    Examples:
        >>> load().products["ios"]
        ProductPolicy(rule='latest-in-line', grace_days=14, exploited_grace_days=7, minimum=None)
        >>> import pathlib, tempfile
        >>> mine = pathlib.Path(tempfile.mkdtemp()) / "policy.toml"
        >>> _ = mine.write_text('[defaults]\\ngrace_days = 30\\n[products.chrome]\\nrule = "minimum"\\nminimum = "124"\\n')
        >>> load(mine).products["chrome"]
        ProductPolicy(rule='minimum', grace_days=30, exploited_grace_days=7, minimum='124')
        >>> _ = mine.write_text('[products.ios]\\ngrace_days = -1\\n')
        >>> load(mine)
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: ...policy.toml: products.ios.grace_days: must be a whole number of days >= 0, not -1
    """
    shipped = read_policy(POLICY_FILE)
    sources = [str(POLICY_FILE)]
    if path is not None:
        mine = read_policy(path)
        sources.append(str(path))
        shipped["defaults"] = {**shipped.get("defaults", {}), **mine.get("defaults", {})}
        products = dict(shipped.get("products", {}))
        for name, table in mine.get("products", {}).items():
            products[name] = {**products.get(name, {}), **table}
        shipped["products"] = products
    defaults = {"grace_days": 14, "exploited_grace_days": 7, **shipped.get("defaults", {})}
    products = {}
    for name, table in shipped.get("products", {}).items():
        settings = {**defaults, **table}
        if "rule" not in settings:
            raise BadInput(sources[-1], f"products.{name}", "no rule")
        if settings["rule"] == "minimum" and not settings.get("minimum"):
            raise BadInput(sources[-1], f"products.{name}", 'rule "minimum" needs minimum = "<version>"')
        if settings["rule"] != "minimum" and settings.get("minimum"):
            # Judged by its rule, the minimum would be ignored without a word.
            raise BadInput(sources[-1], f"products.{name}.minimum",
                           f'only rule = "minimum" reads a minimum; the rule is "{settings["rule"]}"')
        products[name] = ProductPolicy(**settings)
    return Policy(products=products, source=" + ".join(sources))
