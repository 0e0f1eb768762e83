"""Debian's headless Chromium, driven through chromedriver by selenium.

Locally the browser tests skip when Chromium is not installed (`make browser` installs it); in CI
(CI=true) a missing browser fails them instead, so they cannot pass by not running.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "chromium"
CHROMEDRIVER = "chromedriver"
WAIT_S = 30.0
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # it would try the closed network
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,900",
    "--lang=en-US",
)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run calls `make browser`)")
    pytest.skip(f"{reason}: `make browser` installs Debian's chromium and chromium-driver")


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A selenium WebDriver on a fresh headless Chromium profile."""
    browser, driver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if not browser or not driver:
        _missing("chromium or chromedriver is not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (a dev dependency)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser  # with both paths given, selenium looks nothing up on the network
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def wait_for(driver: Any, condition: Any, what: str, timeout: float = WAIT_S) -> Any:
    """Poll `condition(driver)` until it is truthy (selenium's WebDriverWait), naming `what` on a timeout."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, f"timed out waiting for {what}")
