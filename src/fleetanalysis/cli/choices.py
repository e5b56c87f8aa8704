"""The names and defaults the parser offers, kept here so that ``--help`` imports no pandas.

Each is a copy of a constant owned by a heavy module (``sources``, ``analysis``, ``catalog``,
``feeds``, ``fetch``); ``tests/test_cli.py`` checks every copy equals its original, so they cannot
drift apart.
"""

from fleetanalysis.config import PROCESSED_DIR

# sources.FORMATS, in detection order


FORMATS = ("google_mobile", "slack_access", "slack_audit", "entra", "okta", "github", "csv")
# analysis.ENGINES


ENGINES = ("pandas", "partitions", "dask")
# catalog.PRODUCTS


PRODUCTS = (
    "ios", "ipados", "macos", "android", "windows", "windows-enterprise", "chrome", "firefox", "firefox-esr",
    "safari", "edge", "slack-desktop", "slack-ios", "slack-android", "edge-legacy", "internet-explorer",
)
# catalog.UPDATES_FILE


CATALOG_UPDATES_FILE = PROCESSED_DIR / "catalog-updates.csv"
# feeds.DEFAULT_BASE_URLS


FEED_BASE_URLS = {
    "endoflife": "https://endoflife.date",
    "sofa": "https://sofafeed.macadmins.io",
    "chrome": "https://versionhistory.googleapis.com",
    "slack": "https://slack.com",
    "windows": "https://learn.microsoft.com",
}
# fetch.MAX_PAGES


SLACK_MAX_PAGES = 10_000
