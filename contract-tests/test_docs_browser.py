"""The documentation pages in a real browser with no network: Debian's Chromium, headless, driven by chromedriver,
against a live server. Swagger UI and ReDoc render every operation of the spec, "Try it out" gets a 2xx from the
server, the AsyncAPI page renders every channel, operation and message, and no page loads anything from elsewhere
or logs an error (a blocked CDN script, a refused inline script, a failed request).

Needs `chromium` and `chromium-driver` (Debian; `make test-tools` installs them): skipped without them, failed
without them under LEXICA_REQUIRE_SERVICES=1 (CI)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from bench.services import skip_or_fail

Browser = webdriver.Chrome

ROOT = Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "server" / "lexica" / "_generated" / "openapi.json").read_text())
EVENTS = json.loads((ROOT / "server" / "lexica" / "_generated" / "asyncapi.json").read_text())
OPERATIONS = [
    (operation["tags"][0], operation["operationId"])
    for item in SPEC["paths"].values()
    for method, operation in item.items()
    if method in ("get", "put", "post", "delete", "patch")
]
RENDER_SECONDS = 60  # a cold headless Chromium on a busy 2-core machine
# ReDoc's bundle always asks for its "API docs by Redocly" logo from its CDN (and hides the image when that fails):
# the page's content security policy refuses it, which Chromium logs. That refusal is the policy working, so it is
# the one console error allowed, by its exact text.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
REFUSED_BY_POLICY = (f"Loading the image '{REDOC_LOGO}' violates",)


def _program(*names: str) -> str:
    found = next((path for name in names if (path := shutil.which(name) or _in_usr_bin(name))), None)
    if found is None:
        skip_or_fail(f"{' or '.join(names)} is not installed (Debian: chromium, chromium-driver; `make test-tools`)")
    return found


def _in_usr_bin(name: str) -> str | None:
    path = Path("/usr/bin") / name
    return str(path) if path.exists() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    options = webdriver.ChromeOptions()
    options.binary_location = _program("chromium", "chromium-browser")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        # No network but this machine: every other host is unresolvable and every proxied request refused.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = Browser(options=options, service=Service(executable_path=_program("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def _console(browser: Browser) -> list[dict[str, Any]]:
    """What the page logged since the last call (chromedriver's log, typed here: selenium leaves it untyped)."""
    logged: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return logged


def _open(browser: Browser, url: str) -> None:
    _console(browser)  # forget what earlier pages logged
    browser.get(url)


def _assert_clean(browser: Browser, base_url: str) -> None:
    """Nothing logged at error level, and every resource the page loaded came from the server under test."""
    errors = [
        entry["message"]
        for entry in _console(browser)
        if entry["level"] == "SEVERE" and not any(refused in entry["message"] for refused in REFUSED_BY_POLICY)
    ]
    assert errors == []
    loaded: list[dict[str, Any]] = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".map(entry => ({name: entry.name, status: entry.responseStatus, bytes: entry.transferSize}))"
    )
    elsewhere = [entry for entry in loaded if not entry["name"].startswith(base_url)]
    # Asked for and refused (status 0, nothing transferred): the logo above, nothing else.
    assert [
        entry for entry in elsewhere if (entry["name"], entry["status"], entry["bytes"]) != (REDOC_LOGO, 0, 0)
    ] == []


def _wait(browser: Browser, condition: Any) -> Any:
    return WebDriverWait(browser, RENDER_SECONDS).until(condition)


def test_swagger_ui_renders_every_operation_and_try_it_out_gets_a_2xx(browser: Browser, live_server: str) -> None:
    _open(browser, f"{live_server}/docs")
    _wait(browser, lambda driver: len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(OPERATIONS))
    rendered = {element.get_attribute("id") for element in browser.find_elements(By.CSS_SELECTOR, ".opblock")}
    assert {f"operations-{tag}-{operation_id}" for tag, operation_id in OPERATIONS} <= rendered
    block = browser.find_element(By.ID, "operations-words-getEntry")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    _wait(
        browser,
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#operations-words-getEntry .try-out__btn")),
    ).click()
    headword = block.find_element(By.CSS_SELECTOR, "tr[data-param-name='headword'] input")
    headword.clear()
    headword.send_keys("apple")
    block.find_element(By.CSS_SELECTOR, ".execute").click()
    status = _wait(
        browser,
        expected_conditions.visibility_of_element_located(
            (By.CSS_SELECTOR, "#operations-words-getEntry .live-responses-table tbody .response-col_status")
        ),
    )
    assert status.text.strip().startswith("200"), status.text
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    assert '"headword": "apple"' in body
    _assert_clean(browser, live_server)


def test_redoc_renders_every_operation(browser: Browser, live_server: str) -> None:
    _open(browser, f"{live_server}/redoc")
    wanted = {f"operation/{operation_id}" for _, operation_id in OPERATIONS}

    def rendered(driver: Browser) -> set[str]:
        sections = driver.find_elements(By.CSS_SELECTOR, "[data-section-id*='operation/']")
        return {str(section.get_attribute("data-section-id")).split("/", 2)[-1] for section in sections} & wanted

    _wait(browser, lambda driver: rendered(driver) == wanted)
    _assert_clean(browser, live_server)


def test_the_asyncapi_page_renders_every_channel_operation_and_message(browser: Browser, live_server: str) -> None:
    _open(browser, f"{live_server}/asyncapi")
    _wait(browser, expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
    ids = {element.get_attribute("id") for element in browser.find_elements(By.CSS_SELECTOR, "section[id]")}
    wanted = {f"channel-{name}" for name in EVENTS["channels"]}
    wanted |= {f"operation-{name}" for name in EVENTS["operations"]}
    wanted |= {f"message-{name}" for name in EVENTS["components"]["messages"]}
    assert wanted <= ids
    for name in EVENTS["components"]["messages"]:
        assert browser.find_element(By.ID, f"message-{name}").is_displayed()
    _assert_clean(browser, live_server)


def test_the_landing_page_links_to_every_documentation_page(browser: Browser, live_server: str) -> None:
    _open(browser, f"{live_server}/")
    links = {element.get_attribute("href") for element in browser.find_elements(By.TAG_NAME, "a")}
    assert {f"{live_server}{path}" for path in ("/docs", "/redoc", "/asyncapi", "/openapi.json", "/problems")} <= links
    _assert_clean(browser, live_server)
