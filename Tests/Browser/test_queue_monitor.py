"""The queue monitor in headless Chromium, against a live `sluice serve` (see conftest.py)."""

import time

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import UPDATED, on_row, screenshot, sign_in, wait_for_row, wait_until

XSS = '<script>alert(1)</script><img src=x onerror="window.__xss = 1">'


def live_fetches(driver):
    return driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/admin/queue-monitor/live')).length")


def confirm_dialog(driver, expected_text):
    dialog = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "confirm") if d.find_element(By.ID, "confirm").is_displayed() else False)
    text = dialog.find_element(By.ID, "confirm-text").text
    assert expected_text in text, text
    return dialog


def toast_text(driver, contains):
    return WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.ID, "toast").text if contains in d.find_element(By.ID, "toast").text else False)


def test_sign_in_returns_to_the_page_asked_for(browser):
    server = browser.sluice
    browser.get(server.url + "/admin/queue-monitor?status=FAILED")
    assert "/login?next=" in browser.current_url
    sign_in(browser, "admin", password="not the password", start=None)
    error = WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "login-error"))
    assert error.text == "invalid email or password"
    screenshot(browser, "sign-in-refused")
    sign_in(browser, "admin", start=None)  # the form kept where to go back to
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/admin/queue-monitor?status=FAILED"))
    assert Select(browser.find_element(By.ID, "filter-status")).first_selected_option.text == "FAILED"
    cookie = browser.get_cookie("sluice_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert browser.execute_script("return document.cookie") == ""  # scripts cannot read the session


def test_a_job_goes_pending_processing_completed_without_reloading(browser):
    server = browser.sluice
    project = server.project_with_records(3)
    sign_in(browser, "admin")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "monitor"))
    browser.execute_script("window.__samePage = 'yes'")
    fetches_before = live_fetches(browser)

    server.embeddings.hold()
    try:
        job = server.enqueue("VECTORIZE", {"projectId": project}, delay=8)
        status_text = on_row(browser, job, "PENDING", lambda row: row.find_element(By.CSS_SELECTOR, "td[data-label=Status]").text, timeout=15)
        assert "runs " in status_text  # scheduled, not yet due
        screenshot(browser, "pending")
        badge = on_row(browser, job, "PROCESSING", lambda row: (
            row.find_element(By.CSS_SELECTOR, ".badge").text, len(row.find_elements(By.CSS_SELECTOR, ".badge.processing .spinner"))), timeout=40)
        assert badge == ("PROCESSING", 1), badge  # the word and a spinner, not only the colour
        screenshot(browser, "processing")
    finally:
        server.embeddings.release()
    summary = on_row(browser, job, "COMPLETED", lambda row: row.find_element(By.CSS_SELECTOR, ".summary").text, timeout=40)
    assert '"embeddedCount":3' in summary  # the job's result
    assert browser.execute_script("return window.__samePage") == "yes", "the page reloaded"
    assert live_fetches(browser) > fetches_before + 2, "the page did not refresh itself"
    assert UPDATED.match(browser.find_element(By.ID, "updated").text)

    # The stat cards and the throughput chart follow the queue.
    assert int(browser.find_element(By.ID, "stat-completed").text) >= 1
    chart = WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.ID, "throughput") if int(d.find_element(By.ID, "throughput").get_attribute("data-completed") or 0) >= 1 else False)
    assert len(chart.find_elements(By.CSS_SELECTOR, "rect.bar-completed")) == 60
    screenshot(browser, "completed")


def test_a_hostile_error_is_shown_as_text_and_the_job_can_be_retried(browser):
    server = browser.sluice
    project = server.project_with_records(2)
    server.embeddings.fail_with(XSS)
    try:
        job = server.enqueue("VECTORIZE", {"projectId": project}, max_attempts=1)
        wait_until(lambda: server.job(job)["status"] == "FAILED", message="the job did not fail")
    finally:
        server.embeddings.succeed()

    sign_in(browser, "admin")
    error, markup = on_row(browser, job, "FAILED", lambda row: (
        row.find_element(By.CSS_SELECTOR, ".job-error").text, row.find_elements(By.CSS_SELECTOR, "script, img")), timeout=15)
    assert "<script>alert(1)</script>" in error
    assert not markup, "the error became markup"
    try:
        alert = browser.switch_to.alert
        raise AssertionError(f"an alert opened: {alert.text}")
    except NoAlertPresentException:
        pass
    assert browser.execute_script("return window.__xss") is None
    screenshot(browser, "failed-hostile-error")

    # The detail page: every attempt's error, the payload (still there for a failed job), as text.
    browser.get(f"{server.url}/admin/queue-monitor/jobs/{job}")
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "job-errors").text
    assert project in browser.find_element(By.ID, "job-payload").text
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")
    assert browser.execute_script("return window.__xss") is None
    screenshot(browser, "job-detail")

    # Retry from the monitor with the keyboard: focus the button, Enter, confirm.
    browser.get(server.url + "/admin/queue-monitor")
    on_row(browser, job, "FAILED", lambda row: row.find_element(By.CSS_SELECTOR, 'button[data-action="retry"]').send_keys(Keys.ENTER))
    confirm_dialog(browser, "Retry job")
    browser.find_element(By.ID, "confirm-ok").send_keys(Keys.ENTER)
    assert "PENDING again" in toast_text(browser, "PENDING again")
    wait_for_row(browser, job, "COMPLETED", timeout=40)
    assert server.job(job)["status"] == "COMPLETED"


def test_a_pending_job_can_be_cancelled_and_going_back_changes_nothing(browser):
    server = browser.sluice
    job = server.enqueue("VECTORIZE", {"projectId": "not-started"}, delay=3600)
    sign_in(browser, "admin")
    cancel = 'button[data-action="cancel"]'
    on_row(browser, job, "PENDING", lambda row: row.find_element(By.CSS_SELECTOR, cancel).click(), timeout=15)
    confirm_dialog(browser, "Cancel job")
    browser.find_element(By.ID, "confirm-back").click()
    time.sleep(1)
    assert server.job(job)["status"] == "PENDING"

    on_row(browser, job, "PENDING", lambda row: row.find_element(By.CSS_SELECTOR, cancel).click())
    confirm_dialog(browser, "Cancel job")
    browser.find_element(By.ID, "confirm-ok").click()
    assert "was cancelled" in toast_text(browser, "was cancelled")
    assert "cancelled by admin@example.com" in on_row(browser, job, "FAILED", lambda row: row.text, timeout=10)
    assert server.job(job)["status"] == "FAILED"


def test_bulk_retry_shows_the_count_before_confirming(browser):
    server = browser.sluice
    jobs = [server.enqueue("VECTORIZE", {"projectId": f"missing-{n}"}, max_attempts=1) for n in range(3)]
    wait_until(lambda: all(server.job(j)["status"] == "FAILED" for j in jobs), message="the jobs did not fail")
    status, preview = server.api("GET", "/api/admin/queue/bulk?action=retry&status=FAILED&jobType=VECTORIZE")
    assert status == 200 and preview["matching"] >= 3

    browser.get(server.url + "/admin/queue-monitor?status=FAILED&jobType=VECTORIZE")
    sign_in(browser, "admin", start=None)
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "bulk-retry"))
    browser.find_element(By.ID, "bulk-retry").click()
    confirm_dialog(browser, f"Retry {preview['matching']} failed jobs matching the filter?")
    screenshot(browser, "bulk-confirm")
    browser.find_element(By.ID, "confirm-ok").click()
    assert f"Retried {preview['matching']} jobs." in toast_text(browser, "Retried")
    for job in jobs:
        assert server.job(job)["attempts"] <= 1  # reset by the retry (and perhaps failed once more since)


def test_a_manager_sees_the_queue_but_no_actions_and_the_server_refuses_them(browser):
    server = browser.sluice
    job = server.enqueue("VECTORIZE", {"projectId": "manager-view"}, delay=3600)
    sign_in(browser, "manager")
    wait_for_row(browser, job, "PENDING", timeout=15)
    assert not browser.find_elements(By.CSS_SELECTOR, "button[data-action]")
    assert not browser.find_elements(By.ID, "bulk")
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/admin/queue/cancel?jobId=' + arguments[0], {method: 'POST', credentials: 'same-origin'})"
        ".then(r => done(r.status), e => done(String(e)));", job)
    assert status == 403
    assert server.job(job)["status"] == "PENDING"
    screenshot(browser, "manager")


def test_a_viewer_is_told_they_have_no_access(browser):
    server = browser.sluice
    sign_in(browser, "viewer")
    heading = WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "#no-access h1"))
    assert heading.text == "No access"
    assert "VIEWER" in browser.find_element(By.ID, "no-access").text
    assert not browser.find_elements(By.CSS_SELECTOR, "button[data-action], #bulk, #jobs")
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/admin/queue-monitor/live', {credentials: 'same-origin'}).then(r => done(r.status));")
    assert status == 403
    screenshot(browser, "viewer-no-access")


def test_an_unreachable_server_is_shown_and_the_page_recovers(browser):
    sign_in(browser, "admin")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "monitor"))
    browser.execute_cdp_cmd("Network.enable", {})
    conditions = {"latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, **conditions})
    browser.find_element(By.ID, "refresh-now").click()
    banner = WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "offline") if d.find_element(By.ID, "offline").is_displayed() else False)
    assert "Cannot reach the server" in banner.text
    assert browser.find_element(By.ID, "connection").text == "Offline"
    screenshot(browser, "offline")
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, **conditions})
    browser.find_element(By.ID, "refresh-now").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "connection").text == "Live")
    assert not browser.find_element(By.ID, "offline").is_displayed()


def test_refresh_pauses_while_the_tab_is_hidden(browser):
    sign_in(browser, "admin")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "monitor"))
    screenshot(browser, "overview")  # by now the earlier tests left jobs in every state
    browser.execute_script(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => window.__hidden === true});"
        "window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'));")
    assert browser.find_element(By.ID, "connection").text == "Paused"
    before = live_fetches(browser)
    time.sleep(11)  # two refresh periods
    assert live_fetches(browser) == before, "the page refreshed while hidden"
    browser.execute_script("window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'));")
    wait_until(lambda: live_fetches(browser) > before, timeout=5, message="no refresh when the tab came back")
    WebDriverWait(browser, 5).until(lambda d: d.find_element(By.ID, "connection").text == "Live")


def test_phone_width_and_find_by_id(browser):
    server = browser.sluice
    job = server.enqueue("VECTORIZE", {"projectId": "phone"}, delay=3600)
    browser.set_window_size(390, 844)
    sign_in(browser, "admin")
    display = on_row(browser, job, "PENDING", lambda row: row.find_element(By.CSS_SELECTOR, "td").value_of_css_property("display"), timeout=15)
    assert display == "flex"  # each cell a labelled line of a card
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(browser, "phone")

    field = browser.find_element(By.ID, "find-id")
    field.send_keys(job, Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith(f"/admin/queue-monitor/jobs/{job}"))
    assert browser.find_element(By.ID, "job-detail").get_attribute("data-status") == "PENDING"
    browser.get(server.url + "/admin/queue-monitor/find?id=no-such-job")
    assert "no-such-job" in browser.find_element(By.ID, "error-page").text
