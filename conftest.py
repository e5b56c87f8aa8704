"""Shared by every test path: the fixture notebooks under tests/notebooks are data for the
reporting tests, not notebooks for nbval to run."""

collect_ignore_glob = ["tests/notebooks/*", "benchmarks/*", ".venv/*"]
