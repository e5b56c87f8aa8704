"""fleetanalysis: outdated devices from SaaS sign-in logs.

Stages, in the order data flows: ``sources`` (read logs) -> ``store`` -> ``clients``
(user agents) -> ``catalog`` and ``policy`` (verdicts) -> ``fleet`` (devices over time)
-> ``org`` (offices) -> ``metrics`` -> ``plots`` -> ``reporting`` and ``nudges``.
See docs/pipeline.md for the tables that pass between them.
"""

__version__ = "0.1.0"
