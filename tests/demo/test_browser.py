"""The demo as a person uses it: headless Chromium (Debian's package) driven by Selenium.

Pick the first bundled example, press Separate, wait for the stem's audio player, take a screenshot.
Skipped, with the reason, only when chromium or chromedriver is missing (``make install`` installs
them when it runs as root); under ``CI=true`` a missing browser is a failure instead.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import urlparse

import pytest

TIMEOUT_S = 120


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = ("chromium and chromium-driver are not installed (make install apt-gets them as root; "
              "else: sudo apt-get install chromium chromium-driver)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # the page's requests
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,2200", "--mute-audio", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(TIMEOUT_S)
    yield driver
    driver.quit()


def test_text_query_on_an_example_in_the_real_page(browser, demo_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from codecsep_mm.examples import EXAMPLES

    wait = WebDriverWait(browser, TIMEOUT_S)
    browser.get(demo_url)
    example = wait.until(ec.element_to_be_clickable(
        (By.XPATH, f"//button[contains(normalize-space(.), '{EXAMPLES[0].title}')]")))
    example.click()
    query = browser.find_element(By.CSS_SELECTOR, "#query-1-text textarea, #query-1-text input")
    wait.until(lambda _: query.get_attribute("value") == EXAMPLES[0].prompts[0])
    browser.find_element(By.ID, "separate").click()

    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "Separated 1 stem"))
    player = wait.until(ec.visibility_of_element_located((By.ID, "stem-1")))
    assert f"Stem 1: {EXAMPLES[0].prompts[0]}" in player.text
    wait.until(lambda _: player.find_elements(By.CSS_SELECTOR, "audio, wave, [data-testid='waveform-Stem 1: music']"))
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#spectrograms img")))

    shot = tmp_path / "demo.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one

    requested = {urlparse(url).hostname for url in _requested_urls(browser)} - {None}
    assert requested == {"127.0.0.1"}, f"the page reached beyond this machine: {requested}"


def _requested_urls(browser) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(("data:", "blob:")):
                urls.append(url)
    return urls
