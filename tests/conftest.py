"""Fixtures shared by several test files: the shipped policy and catalog, no settings file,
a small demo organisation ingested into a store, and the local Slack the nudges talk to."""

import pytest
from fake_slack import TOKEN, FakeSlack

from fleetanalysis import catalog, demo, policy, sources, store


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
    """Nothing configured: FLEETANALYSIS_CONFIG names an empty settings file."""
    empty = tmp_path / "no-settings.toml"
    empty.write_text("")
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(empty))


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """The demo organisation (60 people, 8 weeks, seed 1) and its Slack pages ingested into a
    store: the files ``demo.write`` returns, plus ``folder`` and ``store``. Read it, never write it."""
    folder = tmp_path_factory.mktemp("demo")
    written = demo.write(folder, users=60, weeks=8, seed=1)
    store_path = folder / "access.parquet"
    store.merge(store_path, sources.load(written["slack"]))
    return {"folder": folder, "store": store_path, **written}


@pytest.fixture
def slack(monkeypatch):
    """The local Slack-shaped Web API of ``fake_slack`` (its clock ``now`` at DAY0), the bot
    token in SLACK_BOT_TOKEN; shut down after the test. test_fetch has its own: the access-log API."""
    fake = FakeSlack()
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
