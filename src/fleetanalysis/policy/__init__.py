"""The patch policy and the verdicts it gives: is this version current, in grace, outdated or unsupported?

Every verdict is dated: a version is judged against the releases the catalog lists on or
before the date of the evidence (``as_of``), so iOS 17.3.1 is current in February 2024
and outdated by April. A release becomes due ``grace_days`` after it came out: on day
``grace_days`` a device without it is still ``grace``, from the day after it is
``outdated`` (``as_of - released > grace_days``). A line is out of support from its
``eol`` date on (on the ``eol`` day itself the device is ``unsupported``).

When the evidence cannot carry a verdict the answer is ``unknown`` with a reason: a
frozen or absent version, a product the catalog lacks, a version newer than anything the
catalog knows, or evidence dated after the catalog's ``complete-until`` for the product.

The package's rooms: ``rules`` reads the policy files, ``placing`` finds where a version
and a day sit among the catalog's releases, ``verdicts`` judges them (the rule, then the
ordered override table ``OVERRIDES``).

Examples:
    >>> import pandas as pd
    >>> from fleetanalysis import catalog as releases
    >>> catalog = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
    >>> parts = pd.DataFrame({"product": ["ios", "ios", "ios"], "version": ["17.3.1", "17.3.1", "17.4"],
    ...                       "evidence": ["exact", "exact", "exact"],
    ...                       "as_of": pd.to_datetime(["2024-02-20", "2024-04-10", "2024-04-10"])})
    >>> judge(parts, catalog, load())[["verdict", "target"]].values.tolist()
    [['current', nan], ['outdated', '17.4'], ['current', nan]]
"""

from fleetanalysis.policy.placing import equivalent_day, equivalent_version, shown_depth
from fleetanalysis.policy.rules import POLICY_FILE, Policy, ProductPolicy, load, read_nudges
from fleetanalysis.policy.verdicts import (
    EVIDENCE,
    OVERRIDES,
    ROLLING,
    VERDICT_DTYPE,
    VERDICTS,
    Override,
    judge,
    stale_versions,
    worst,
)

__all__ = ["EVIDENCE", "OVERRIDES", "POLICY_FILE", "ROLLING", "VERDICTS", "VERDICT_DTYPE", "Override", "Policy",
           "ProductPolicy", "equivalent_day", "equivalent_version", "judge", "load", "read_nudges", "shown_depth",
           "stale_versions", "worst"]
