"""Drives serve's dashboard in headless Chromium (Selenium, chromedriver):
the page loads, its two plots get data points from the events stream, the
verify table lists the stream's tables, and a dry run started from the page
with the token shows the plan with its checks. Saves a screenshot.

usage: dashboard_check.py URL TOKEN SCREENSHOT
"""
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, token, screenshot = sys.argv[1:4]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", "--window-size=1400,1100"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(url)
    wait = WebDriverWait(driver, 30, poll_frequency=0.25)

    def points(name):
        return driver.execute_script(
            f"return window.switchyard ? window.switchyard.{name}.data[0].length : 0")

    wait.until(lambda d: points("lagPlot") >= 3 and points("ratePlot") >= 3)
    print(f"ok: plots have {points('lagPlot')} and {points('ratePlot')} points")
    wait.until(lambda d: "pgbench_accounts" in d.find_element(By.ID, "tables").text)
    wait.until(lambda d: d.find_element(By.ID, "phase").text == "streaming")
    print("ok: verify table:", driver.find_element(By.ID, "tables").text.splitlines()[1])

    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "dry-cutover").click()
    wait.until(lambda d: d.find_elements(By.ID, "plan"))
    answer = driver.find_element(By.ID, "answer").text
    assert "cutover preflight passed" in answer, answer
    rows = driver.find_elements(By.CSS_SELECTOR, "#plan tr")
    assert len(rows) >= 11, answer
    assert all(row.text.startswith("ok") for row in rows), answer
    print(f"ok: dry run from the page: {len(rows)} checks passed")
    time.sleep(1)
    driver.save_screenshot(screenshot)
    print("ok: screenshot", screenshot)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
finally:
    driver.quit()
