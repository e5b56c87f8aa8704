"""fleetanalysis: outdated devices from SaaS sign-in logs.

Stages, in the order data flows: ``sources`` (read logs) -> ``store`` -> ``clients``
(user agents) -> ``catalog`` and ``policy`` (verdicts) -> ``fleet`` (devices over time)
-> ``org`` (offices) -> ``metrics`` -> ``plots`` -> ``reporting`` and ``nudges``.
See docs/pipeline.md for the tables that pass between them.
"""

import logging

__version__ = "0.1.0"

# The package's notes reach a terminal through the CLI's handler only: a notebook, and so a
# report sent to management, never prints them (a directory's duplicate names an email).
logging.getLogger(__name__).addHandler(logging.NullHandler())
