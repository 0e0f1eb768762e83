"""The chat page in a real browser: headless Chromium opens `cdgpt serve`'s `/`, takes the key, lists
the models, asks questions of the handbook (trained from 127.0.0.1 URLs, so sources link to pages),
shows the streamed answer, its numbered sources as links, and Chinese; document text is never HTML.

SCREENSHOTS_DIR=docs writes the README's screenshots (`make screenshots`); otherwise they go to a
temporary folder, taken all the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.browser import chromium, wait_for
from tests.support.serve import SECRET, serving
from tests.support.web import LocalWeb

HANDBOOK = REPO / "samples/handbook"
TYPES = {
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
LEAVE = "How many days of paid annual leave does a full-time employee get per year?"
LUNCH_ZH = "上海办公室的午餐补贴是多少？"
HOSTILE = (  # a document whose title and text are markup (plain text keeps it): the page must show them as text
    "<img src=x onerror=\"document.title='pwned'\"> Bicycle parking\n" + "=" * 60 + "\n\n"
    "Bicycle parking is in the basement garage <script>document.title='pwned'</script>, "
    "open from 7:00 to 21:00; bring your badge to open the bicycle gate.\n"
)


@pytest.fixture(scope="module")
def site():
    with LocalWeb() as web:
        for path in sorted(HANDBOOK.iterdir()):
            web.add(f"/handbook/{path.name}", path.read_bytes(), TYPES[path.suffix])
        web.add("/handbook/bicycles.txt", HOSTILE, TYPES[".txt"])
        yield web


@pytest.fixture(scope="module")
def served(tmp_path_factory, site):
    with serving(tmp_path_factory.mktemp("page"), env={"CDGPT_ALLOW_PRIVATE_URLS": "1"}) as server:
        urls = [site.base + path for path in sorted(site.routes)]
        response = server.post("/train", json={"model_name": "handbook", "file_list": urls})
        assert response.status_code == 200, response.text
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    wanted = os.environ.get("SCREENSHOTS_DIR")
    return (REPO / wanted) if wanted else tmp_path_factory.mktemp("screenshots")


def by_css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def ask(driver, question: str, turn: int):
    """Type the question, press Enter, wait for the answer's `done` event to be rendered."""
    from selenium.webdriver.common.keys import Keys

    box = by_css(driver, "#question")[0]
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    return wait_for(driver, lambda d: by_css(d, f"#turn-{turn} .answer.done"), f"answer {turn}")[0]


def key_field(driver, url: str):
    """The page opened afresh in a tab that holds no key."""
    driver.get(url)
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    return wait_for(driver, lambda d: [e for e in by_css(d, "#key") if e.is_displayed()], "the key field")[0]


def sign_in(driver, url: str) -> None:
    key_field(driver, url).send_keys(SECRET)
    by_css(driver, "#key-form button")[0].click()
    wait_for(driver, lambda d: by_css(d, "#model option"), "the model list")


def test_the_page_answers_with_sources_as_links_and_in_chinese(served, site, browser, shots):
    sign_in(browser, served.url + "/")
    options = by_css(browser, "#model option")
    assert [o.get_attribute("value") for o in options] == ["handbook"]
    assert browser.execute_script("return sessionStorage.getItem('cdgpt.key')") == SECRET

    answer = ask(browser, LEAVE, 1)
    assert "25 days" in answer.text and "[1]" in answer.text
    cite = by_css(browser, "#turn-1 .answer a.cite")[0]
    assert cite.text == "[1]" and cite.get_attribute("href").endswith("#turn-1-source-1")
    first = by_css(browser, "#turn-1-source-1")[0]
    link = first.find_element("css selector", "a.title")
    assert link.get_attribute("href") == f"{site.base}/handbook/leave-and-holidays.md"
    assert link.text and first.find_element("css selector", ".snippet").text
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(shots / "chat-page.png"))
    cite.click()
    assert browser.execute_script("return location.hash") == "#turn-1-source-1"

    answer = ask(browser, LUNCH_ZH, 2)
    assert "午餐" in answer.text
    sources = by_css(browser, "#turn-2 .source a.title")
    assert sources[0].get_attribute("href") == f"{site.base}/handbook/shanghai-office-guide-zh.md"
    browser.execute_script("document.getElementById('turn-2').scrollIntoView({block: 'start'})")
    browser.save_screenshot(str(shots / "chat-page-zh.png"))


def test_document_text_is_shown_as_text_never_as_markup(served, browser):
    sign_in(browser, served.url + "/")
    ask(browser, "Where is the bicycle parking?", 1)
    titles = [e.text for e in by_css(browser, ".source .title")]
    assert any("<img" in title for title in titles)  # the markup itself, as text
    assert by_css(browser, "#turns img, #turns script") == []
    assert browser.title == "Custom Data GPT"


def test_a_wrong_key_asks_again(served, browser):
    key_field(browser, served.url + "/").send_keys("not-the-key")
    by_css(browser, "#key-form button")[0].click()
    status = wait_for(browser, lambda d: [e for e in by_css(d, "#status.error") if e.text], "the refusal")[0]
    assert "API secret" in status.text
    assert by_css(browser, "#key")[0].is_displayed()


def test_forgetting_the_key_forgets_the_conversation(served, browser):
    """The next person to sign in on the tab neither sees the last one's questions nor continues them."""
    sign_in(browser, served.url + "/")
    ask(browser, LEAVE, 1)
    kept = browser.execute_script("return sessionStorage.getItem('cdgpt.conversation')")
    assert kept
    by_css(browser, "#forget-key")[0].click()
    wait_for(browser, lambda d: [e for e in by_css(d, "#key") if e.is_displayed()], "the key field")
    assert by_css(browser, "#turns > *") == []
    assert browser.execute_script("return sessionStorage.getItem('cdgpt.conversation')") is None
