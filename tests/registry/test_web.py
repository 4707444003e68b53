"""`seqgen web` in a real headless browser: Debian's chromium, driven by selenium through Debian's chromedriver.

One tiny translation model serves as the mle "champion"; vae and gan point at folders that do not exist, so their
columns show a note. The page must show what `load_predictor` gives for the same request, and a bad setting must
show its error message, not a traceback. A screenshot goes to $SEQGEN_TEST_ARTIFACTS/web.png (default: the test's
tmp_path). Where chromium, chromedriver or selenium are missing (scripts/test.sh installs the Debian packages when
it can) the test skips, saying why; in CI it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import PROJECT_ROOT
from seqgen.training.job import train
from tiny import tiny_params

SENTENCE = "A man in a blue shirt is riding a bike down the street."


def _missing(message: str):
    if os.environ.get("CI"):  # CI's test command installs chromium: a missing browser there is a failure
        pytest.fail(message)
    pytest.skip(message)


def _browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        _missing("Debian's chromium and chromium-driver are not installed; scripts/test.sh installs them")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (the dev extra: pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # both paths given: selenium's manager downloads nothing
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    browser.implicitly_wait(0)
    return browser


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def translation_model(translation_ws):
    train("translation", "mle", tiny_params("translation", steps=40), root=translation_ws)
    return translation_ws / "models" / "translation-mle"


@pytest.fixture
def web_server(translation_model, tmp_path):
    """The page's URL: `seqgen web` in its own process group on a free loopback port."""
    port, log = _free_port(), tmp_path / "web.log"
    missing = tmp_path / "no-such-model"
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "SE_AVOID_STATS": "true"}
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "seqgen.cli", "web", "--task", "translation", "--model", f"mle={translation_model}",
             "--model", f"vae={missing}", "--model", f"gan={missing}", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"seqgen web exited with {server.returncode}:\n{log.read_text()}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"seqgen web did not answer on {url} within 120 s:\n{log.read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_the_page_shows_each_family_side_by_side_and_errors_as_messages(web_server, translation_model, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from seqgen.commands import load_predictor

    browser = _browser()
    try:
        wait = WebDriverWait(browser, 60)
        browser.get(web_server)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#text textarea"))

        def fill(selector: str, value: str) -> None:
            field = browser.find_element(By.CSS_SELECTOR, selector)
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(Keys.DELETE)
            field.send_keys(value)

        def ask(expect: str) -> str:
            browser.find_element(By.CSS_SELECTOR, "#go").click()
            wait.until(lambda b: expect in b.find_element(By.CSS_SELECTOR, "#status").text)
            return browser.find_element(By.CSS_SELECTOR, "#status").text

        fill("#text textarea", SENTENCE)
        fill("#num_outputs input", "3")
        ask("answered")
        shown = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#out-mle li")]
        # The page's request with untouched controls is {"num_outputs": 3}: the model's defaults otherwise.
        assert shown == load_predictor(str(translation_model))([SENTENCE], {"num_outputs": 3})[0]
        assert len(shown) == 3 and all(text.strip() for text in shown)
        for family in ("vae", "gan"):
            assert "no model at" in browser.find_element(By.CSS_SELECTOR, f"#out-{family}").text
        artifacts = Path(os.environ.get("SEQGEN_TEST_ARTIFACTS", tmp_path))
        artifacts.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(artifacts / "web.png"))
        print(f"screenshot: {artifacts / 'web.png'}")

        fill("#num_outputs input", "21")
        assert "param num_outputs: expected an integer from 1 to 20, got 21" in ask("num_outputs")
        fill("#num_outputs input", "3")
        next(label for label in browser.find_elements(By.CSS_SELECTOR, "#strategy label") if label.text == "sample").click()
        fill("#temperature textarea, #temperature input", "0")
        assert "param temperature" in ask("temperature")
        assert not browser.find_elements(By.CSS_SELECTOR, "#out-mle li")  # no stale outputs under an error
        assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.quit()
