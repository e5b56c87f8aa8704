"""Fixtures shared by several test files: the shipped policy and catalog, and no settings file."""

import pytest

from fleetanalysis import catalog, policy


@pytest.fixture(scope="session")
def rules():
    """The shipped patch policy (data/policy.toml), nothing read over it."""
    return policy.load()


@pytest.fixture(scope="session")
def shipped_catalog():
    """The shipped release catalog without the fetched updates file: the same on every machine."""
    return catalog.load(updates=False)


@pytest.fixture
def no_settings(tmp_path, monkeypatch):
    """No settings file: FLEETANALYSIS_CONFIG names one that does not exist."""
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(tmp_path / "no-settings.toml"))
