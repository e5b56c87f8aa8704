"""The patch policy: how each product is judged (its rule, grace windows and minimum),
read from the shipped ``data/policy.toml`` with the user's file over it.

Only reading and checking the rules lives here; ``verdicts.judge`` applies them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from fleetanalysis import validation
from fleetanalysis.config import PACKAGE_DATA
from fleetanalysis.errors import BadInput

POLICY_FILE = PACKAGE_DATA / "policy.toml"


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
    (``validation.PolicyFile``): unknown products, rules or keys, and negative, huge or
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
    shipped = validation.read_policy(POLICY_FILE)
    sources = [str(POLICY_FILE)]
    if path is not None:
        mine = validation.read_policy(path)
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
        products[name] = ProductPolicy(**settings)
    return Policy(products=products, source=" + ".join(sources))
