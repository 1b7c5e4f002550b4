"""Fixtures shared by the tests: a headless Chromium for the pages and decks."""

import os

import pytest

from slides import browser


@pytest.fixture(scope="module")
def chromium():
    try:
        return browser.ensure_chromium()
    except browser.BrowserUnavailable as exc:
        if os.environ.get("CI"):
            raise  # CI runs as root on a Debian machine: there it must really run
        pytest.skip(f"no headless Chromium: {exc}")
