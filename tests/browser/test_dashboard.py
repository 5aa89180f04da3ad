"""The dashboard page in headless Debian Chromium, against the API on a real warehouse.

Live state (continue watching, next up) comes from a hand-written worker (the live routes are
tested elsewhere); everything else is the real app on the sample warehouse. Needs
``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``scripts/test-deps`` installs both).
The screenshot goes to ``tests/artifacts/dashboard.png``.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from ingest_api.app import create_app
from tests.integration.api.sample_warehouse import Sample, build
from tests.integration.api.test_analytics_on_warehouse import services_for
from tests.support.servers import serve

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHARTS = ("retention", "daily", "funnel", "qoe", "top-videos", "week", "continue", "next-up")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
    "--disable-background-networking --disable-component-update --disable-sync "
    "--disable-dev-shm-usage --window-size=1440,1000"
)


@dataclass
class Worker:
    """Answers the live reads like a stream worker; tests change ``resume`` to see refreshes."""

    resume: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "video_id": "v3",
                "position_s": 540.0,
                "duration_s": 1200.0,
                "progress": 0.45,
                "last_activity": "2024-03-10T09:12:00Z",
                "device_id": "dev-1",
            },
            {
                "video_id": "v2",
                "position_s": 120.0,
                "duration_s": 900.0,
                "progress": 0.133,
                "last_activity": "2024-03-09T20:01:00Z",
                "device_id": "dev-1",
            },
        ]
    )

    async def get(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes]:
        user = path.split("/")[3]
        if path.endswith("/continue-watching"):
            doc: dict[str, Any] = {"user_id": user, "device_id": None, "items": self.resume}
        elif path.endswith("/next-up"):
            doc = {
                "user_id": user,
                "device_id": None,
                "items": [
                    {
                        "video_id": "v2",
                        "reason": "next_episode",
                        "series_id": "s1",
                        "position_s": 0.0,
                        "last_activity": None,
                        "queue_id": None,
                    },
                    {
                        "video_id": "v4",
                        "reason": "queue",
                        "series_id": None,
                        "position_s": 0.0,
                        "last_activity": None,
                        "queue_id": "later",
                    },
                ],
            }
        else:
            return 404, b'{"error": "not here"}'
        return 200, orjson.dumps(doc)


@pytest.fixture(scope="module")
def worker() -> Worker:
    return Worker()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, worker: Worker) -> Iterator[str]:
    sample: Sample = build(tmp_path_factory.mktemp("warehouse"))
    services = services_for(sample.data_dir)
    services.live = worker
    with serve(create_app(services)) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(exe):
            pytest.fail(
                f"{exe} is missing: run scripts/test-deps (Debian chromium, chromium-driver)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS.split():
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


_COUNT_JS = """
const out = {};
for (const host of document.querySelectorAll("[data-chart]")) {
  const drawn = host.querySelector("[data-points]");
  out[host.dataset.chart] = drawn ? Number(drawn.dataset.points) : 0;
}
return out;
"""


def _counts(driver: webdriver.Chrome) -> dict[str, int]:
    """Marks drawn per chart, read in one script (the page redraws every 5 s)."""
    counts: dict[str, int] = driver.execute_script(_COUNT_JS)
    return counts


def _points(driver: webdriver.Chrome, chart: str) -> int:
    return _counts(driver).get(chart, 0)


def _all_drawn(driver: webdriver.Chrome) -> bool:
    counts = _counts(driver)
    return all(counts.get(c, 0) > 0 for c in CHARTS)


def _full_page_screenshot(driver: webdriver.Chrome, path: Path) -> None:
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def _console_errors(driver: webdriver.Chrome) -> list[str]:
    logs: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e["message"] for e in logs if e["level"] in ("SEVERE", "WARNING")]


def test_every_chart_renders_with_data_and_the_console_stays_clean(
    browser: webdriver.Chrome, base_url: str
) -> None:
    browser.get(f"{base_url}/dashboard?token=root")
    WebDriverWait(browser, 20).until(_all_drawn)

    counts = _counts(browser)
    assert counts["retention"] == 200  # two curves of 100 buckets
    assert counts["daily"] >= 10  # bars and line points over the 30-day range
    assert counts["funnel"] == 6
    assert counts["top-videos"] == 5
    assert counts["week"] == 14  # 7 days of watch time and the goal line
    assert (counts["continue"], counts["next-up"]) == (2, 2)
    assert browser.find_elements(By.CSS_SELECTOR, "[data-empty], .error") == []
    assert browser.find_element(By.ID, "status").text == ""
    assert browser.find_element(By.ID, "video-name").text == "· Stream processing 101"
    kpis = browser.find_element(By.ID, "user-kpis").text
    assert "Current streak\n10 days" in kpis
    # The token is remembered and no longer in the address bar.
    assert "token" not in browser.current_url
    assert browser.execute_script("return localStorage.getItem('watchflow.readToken')") == "root"

    _full_page_screenshot(browser, ARTIFACTS / "dashboard.png")
    assert _console_errors(browser) == []


def test_picking_a_video_redraws_its_charts(browser: webdriver.Chrome, base_url: str) -> None:
    browser.get(f"{base_url}/dashboard")  # the token comes from localStorage now
    WebDriverWait(browser, 20).until(_all_drawn)
    Select(browser.find_element(By.ID, "video")).select_by_value("v4")
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "video-name").text == "· Exactly once, really"
    )
    WebDriverWait(browser, 10).until(_all_drawn)
    assert "video=v4" in browser.current_url
    assert _console_errors(browser) == []


def test_live_panels_refresh_on_their_own(
    browser: webdriver.Chrome, base_url: str, worker: Worker
) -> None:
    browser.get(f"{base_url}/dashboard")
    WebDriverWait(browser, 20).until(_all_drawn)
    worker.resume = worker.resume[:1]
    WebDriverWait(browser, 12).until(lambda d: _points(d, "continue") == 1)
    assert _console_errors(browser) == []


def test_a_creator_token_sees_its_own_videos_and_no_viewers(
    browser: webdriver.Chrome, base_url: str
) -> None:
    browser.get(f"{base_url}/dashboard?token=c1-token")
    shown = ("retention", "daily", "funnel", "qoe", "top-videos")
    WebDriverWait(browser, 20).until(lambda d: all(_points(d, c) > 0 for c in shown))
    assert _points(browser, "top-videos") == 2  # v1 and v2 belong to c1
    assert not browser.find_element(By.ID, "viewer").is_displayed()
    assert browser.find_element(By.ID, "creator").get_attribute("disabled") == "true"
    assert browser.find_element(By.ID, "who").text == "Creator token: the videos of c1."
    assert _console_errors(browser) == []


def test_a_viewer_token_sees_only_that_viewer(browser: webdriver.Chrome, base_url: str) -> None:
    browser.get(f"{base_url}/dashboard?token=u1-token")
    shown = ("week", "continue", "next-up")
    WebDriverWait(browser, 20).until(lambda d: all(_points(d, c) > 0 for c in shown))
    assert not browser.find_element(By.ID, "videos").is_displayed()
    assert not browser.find_element(By.ID, "top").is_displayed()
    assert browser.find_element(By.ID, "user-name").text == "· u1"
    assert _console_errors(browser) == []
