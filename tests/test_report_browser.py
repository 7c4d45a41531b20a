"""The Snakemake report of a tiny sweep, opened in headless Chromium.

Uses the session's real tiny pipeline (tests/data/tiny_config.yaml: the generated sample, COLMAP,
two short training segments, four meshes, metrics, renders, curves, the viewer) and its
`--report`, and drives Debian's chromium through chromedriver (selenium). `make test` installs
chromium and chromium-driver; without them the test is skipped (it installs nothing itself).

Set V2M_SCREENSHOTS=<dir> to keep screenshots of the report and of the viewer (docs/ has them).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The flags that work on these machines; swiftshader gives WebGL without a GPU.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--window-size=1400,900",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# In the viewer's frame: share of non-background pixels and the spread of their chromaticity
# (r - b and g - b over r + g + b: the same for every pixel of one shaded hue).
PIXEL_STATS = """const c = document.getElementById('v2m-canvas');
  const gl = c.getContext('webgl'); const w = c.width, h = c.height;
  const px = new Uint8Array(4 * w * h);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
  let n = 0, s = [0, 0], q = [0, 0];
  for (let i = 0; i < px.length; i += 4) {
    const r = px[i], g = px[i + 1], b = px[i + 2];
    if ((r >= 240 && g >= 240 && b >= 240) || r + g + b < 60) continue;
    const x = [(r - b) / (r + g + b), (g - b) / (r + g + b)];
    n++;
    for (const k of [0, 1]) { s[k] += x[k]; q[k] += x[k] * x[k]; }
  }
  const sd = k => Math.sqrt(Math.max(q[k] / Math.max(n, 1) - (s[k] / Math.max(n, 1)) ** 2, 0));
  return {drawn: n / (w * h), chroma_std: sd(0) + sd(1)};"""


@pytest.fixture(scope="module")
def report(tiny_pipeline: Path) -> Path:
    return tiny_pipeline / "results" / "report.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(predicate, timeout: float = 15.0):  # -> the predicate's first truthy value
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


def _open_category(driver, name: str) -> None:
    from selenium.webdriver.common.by import By

    home = driver.find_elements(By.LINK_TEXT, "Results")
    if home:
        home[0].click()
    _wait(lambda: driver.find_elements(By.LINK_TEXT, name))[0].click()


def _show(driver, row_text: str) -> None:
    """Click the eye button of the result row whose first cells read ``row_text``."""
    from selenium.webdriver.common.by import By

    rows = _wait(
        lambda: [r for r in driver.find_elements(By.TAG_NAME, "tr") if r.text.startswith(row_text)]
    )
    assert rows, f"no result row {row_text!r}"
    rows[0].find_element(By.CSS_SELECTOR, "a[iconname=eye]").click()


def _screenshot(driver, name: str) -> None:
    target = os.environ.get("V2M_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / name))


def test_report_shows_table_render_and_viewer_without_js_errors(report: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(report.as_uri())
    _wait(lambda: driver.find_elements(By.LINK_TEXT, "0. Summary"))

    # The summary table: an HTML result shown in an iframe.
    _open_category(driver, "0. Summary")
    _show(driver, "all meshes")
    frame = _wait(lambda: driver.find_elements(By.TAG_NAME, "iframe"))[0]
    driver.switch_to.frame(frame)
    rows = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "table#summary tbody tr"))
    assert len(rows) == 4  # 1 scene × 1 run × 2 iterations × 2 resolutions
    assert "Chamfer-L1" in driver.find_element(By.CSS_SELECTOR, "table#summary thead").text
    driver.switch_to.default_content()
    _screenshot(driver, "report-summary.png")

    # A thumbnail: an inline PNG chosen by its labels.
    _open_category(driver, "6. Meshes")
    _show(driver, "sample builtin 300 64")
    img = _wait(
        lambda: [
            i
            for i in driver.find_elements(By.TAG_NAME, "img")
            if (i.get_attribute("src") or "").startswith("data:image/png")
        ]
    )
    assert img, "no thumbnail image shown"
    assert _wait(lambda: driver.execute_script("return arguments[0].naturalWidth", img[0]) > 0)
    _screenshot(driver, "report-render.png")

    # The viewer: a canvas that WebGL drew into, with the mesh's metrics in the info line.
    _open_category(driver, "9. 3D viewer")
    _show(driver, "sample")
    frame = _wait(lambda: driver.find_elements(By.TAG_NAME, "iframe"))[0]
    driver.switch_to.frame(frame)
    canvas = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "canvas#v2m-canvas"))
    assert canvas and canvas[0].size["width"] > 100
    info = _wait(lambda: "Chamfer" in driver.find_element(By.ID, "v2m-info").text)
    assert info, driver.find_element(By.ID, "v2m-status").text
    drawn = driver.execute_script(
        """const c = document.getElementById('v2m-canvas');
        const gl = c.getContext('webgl'); const w = c.width, h = c.height;
        const px = new Uint8Array(4 * w * h);
        gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
        let n = 0; for (let i = 0; i < px.length; i += 4) if (px[i] < 240) n++;
        return n / (w * h);"""
    )
    assert drawn > 0.02, f"the viewer drew almost nothing ({drawn:.3f} of the canvas)"

    # The finest mesh has a baked texture and the viewer starts with it: its pixels carry the
    # photos' colours, which plain shading (one hue) does not.
    assert _wait(lambda: "textured" in driver.find_element(By.ID, "v2m-info").text)
    textured = driver.execute_script(PIXEL_STATS)
    select = driver.find_element(By.ID, "v2m-colour")
    driver.execute_script(
        "arguments[0].value = 'plain'; arguments[0].dispatchEvent(new Event('change'))", select
    )
    assert _wait(lambda: "textured" not in driver.find_element(By.ID, "v2m-info").text)
    plain = driver.execute_script(PIXEL_STATS)
    assert textured["drawn"] > 0.02 and plain["drawn"] > 0.02
    assert textured["chroma_std"] > 3 * plain["chroma_std"] + 0.01, (textured, plain)
    driver.switch_to.default_content()
    _screenshot(driver, "report-viewer.png")

    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
