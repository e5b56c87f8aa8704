"""Notebook display helpers: tables in words, product names as vendors write them, inert Markdown."""

from __future__ import annotations

import pandas as pd
import pytest

from fleetanalysis import show


def test_tidy_tables_read_as_words():
    frame = pd.DataFrame({"office": ["Oslo"], "share": [0.9312], "change": [-0.021],
                          "last_seen": pd.to_datetime(["2026-06-30 13:14:15+00:00"]), "median_days": [float("nan")]})
    shown = show.tidy(frame, percent=["share"], changes=["change"], dates=["last_seen"], decimals=1)
    assert list(shown.columns) == ["Office", "Share up to date", "Change since last week", "Last seen",
                                   "Median days to install"]
    assert shown.iloc[0].tolist() == ["Oslo", "93.1%", "-2.1 pts", "2026-06-30", "–"]


def test_product_ids_are_written_as_vendors_write_them():
    assert show.product_names("macos 14; ipados 17.5, slack-android 24.1") == \
        "macOS 14; iPadOS 17.5, Slack for Android 24.1"
    assert show.product_names("chromeos and iosevka") == "chromeos and iosevka"


def test_markdown_escapes_dollar_signs():
    assert show.escape_text(r"$\something$") == r"\$\\something\$"


def test_escaped_quotes_render_as_quotes_in_the_report():
    # An office or a person's name with an apostrophe (O'Brien) read "O&#x27;Brien" in the
    # HTML report when the entity's "#" was backslashed after escaping.
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    rendered = markdown2html_mistune(show.escape_text("O'Brien \"Hub\" <b>*x*</b>"))
    assert "&amp;#" not in rendered and "<b>" not in rendered and "<em>" not in rendered
    assert rendered in ("<p>O&#x27;Brien &quot;Hub&quot; &lt;b&gt;*x*&lt;/b&gt;</p>\n",
                        "<p>O'Brien &quot;Hub&quot; &lt;b&gt;*x*&lt;/b&gt;</p>\n")


@pytest.mark.parametrize("office", ["Reset your password at https://evil.example/login now",
                                    "see www.evil.example", "write to it@evil.example",
                                    '=HYPERLINK("http://evil.example/x")', "HTTPS://EVIL.EXAMPLE"])
def test_a_web_address_in_log_or_directory_text_is_never_a_link_in_the_report(office):
    # An outside trial: a directory's office name put a clickable address in the report's
    # "Worst office" line (nbconvert links bare addresses, as JupyterLab does).
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    rendered = markdown2html_mistune(f"**Worst office:** {show.escape_text(office)}, 100% behind")
    assert "<a " not in rendered and "evil.example" in rendered.lower()
    assert "\\" not in rendered  # the escapes are consumed, not shown


def test_every_catalog_product_has_a_name_people_read():
    from fleetanalysis.catalog import PRODUCTS

    assert [product for product in PRODUCTS if product not in show.PRODUCT_NAMES] == []
    assert show.product_names("edge-legacy 18 and edge 120") == "Edge Legacy (EdgeHTML) 18 and Edge 120"


class _Run:
    """What catalog_behind reads of an analysis run: ``stale`` and ``catalog``."""

    def __init__(self, products, catalog):
        self.catalog = catalog
        self.stale = pd.DataFrame({"product": products, "version": ["99.1"] * len(products),
                                   "newest_known": ["24.1"] * len(products)})


def _shown(monkeypatch, run, demo) -> list[str]:
    """What ``catalog_behind`` displays, as the report's HTML shows it."""
    import IPython.display
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda thing: shown.append(
        markdown2html_mistune(thing.data) if type(thing).__name__ == "Markdown" else thing.data))
    show.catalog_behind(run, demo)
    return shown


def test_the_report_says_the_demos_synthetic_slack_versions_as_the_cli_does(monkeypatch, shipped_catalog):
    run = _Run(["chrome", "slack-android", "slack-ios"], shipped_catalog)
    note, heading, table = _shown(monkeypatch, run, demo=True)
    # One sentence for the synthetic Slack versions, the CLI's note; the real product stays a table.
    said = show.synthetic_note(["slack-android", "slack-ios"], shipped_catalog).removeprefix("the demo's ")
    assert note.startswith("<p><strong>Demo data:</strong> The demo's " + show.product_names(said))
    assert "Slack for Android until 20" in note and "Slack for iOS until 20" in note and "refreshed" not in note
    assert "Catalog behind the logs" in heading and "Chrome" in table and "Slack" not in table
    # Real logs newer than the catalog: every product is the catalog being behind.
    heading, table = _shown(monkeypatch, run, demo=False)
    assert "Catalog behind the logs" in heading and "Slack for iOS" in table
    assert _shown(monkeypatch, _Run([], shipped_catalog), demo=True) == []
