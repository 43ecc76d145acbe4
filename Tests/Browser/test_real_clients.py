"""Sluice as real clients call it: Python requests, curl, an HTML form, prometheus_client, a browser parsing what
the server sends, and a program with an API token (see conftest.py for the live server)."""

import json
import subprocess
import time
import urllib.parse

import requests
from prometheus_client.parser import text_string_to_metric_families
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import on_row, sign_in


def metric_samples(text):
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_first_scrape_parses_and_has_every_job_series_at_zero(server):
    # This module's server has run no job yet.
    answer = requests.get(server.url + "/metrics", timeout=10)
    assert answer.status_code == 200
    samples = metric_samples(answer.text)
    for job_type in ("INGEST_DATA", "VECTORIZE"):
        labels = (("job_type", job_type),)
        assert samples[("sluice_job_attempts_failed_total", labels)] == 0
        assert samples[("sluice_jobs_completed_total", labels)] == 0
        assert samples[("sluice_job_duration_seconds_count", labels)] == 0
    assert samples[("process_resident_memory_bytes", ())] > 1_000_000
    assert samples[("process_open_fds", ())] > 2
    assert samples[("process_cpu_seconds_total", ())] > 0
    health = (("method", "GET"), ("route", "/health"), ("status", "200"))
    assert samples[("sluice_http_requests_total", health)] >= 1  # the fixture's own health checks
    assert samples[("sluice_http_request_duration_seconds_count", health)] >= 1


def token(server, role):
    return server.cli("tokens", "create", "--name", f"{role}-{time.time_ns()}", "--role", role)


def embedded_project(server):
    """A project with embedded records, searched through the fake provider."""
    manager = {"Authorization": f"Bearer {token(server, 'manager')}"}
    created = requests.post(server.url + "/api/projects", json={"name": f"clients-{time.time_ns()}"}, headers=manager)
    assert created.status_code == 201, created.text
    project = created.json()["project"]["id"]
    upload = requests.post(
        server.url + f"/api/projects/{project}/ingest", headers=manager,
        json={"records": [{"text": "alpha123 beta123"}, {"text": "gamma"}], "generateEmbeddings": True})
    assert upload.status_code == 202, upload.text
    deadline = time.time() + 60
    while time.time() < deadline:
        summary = requests.get(server.url + f"/api/projects/{project}", headers=manager).json()["project"]
        if summary["embeddedCount"] == 2:
            return project
        time.sleep(0.2)
    raise AssertionError("the records were not embedded within 60 s")


def test_search_text_arrives_as_typed_from_requests_and_curl(server):
    project = embedded_project(server)
    viewer = token(server, "viewer")
    path = f"/api/projects/{project}/search"
    cases = ["alpha123 beta123", "1+1 = 2", "café ☕ naïve", "a&b=c?d#e"]
    for text in cases:
        answer = requests.get(server.url + path, params={"q": text, "k": 1}, headers={"Authorization": f"Bearer {viewer}"})
        assert answer.status_code == 200, answer.text
        assert server.embeddings.inputs[-1] == [text], f"requests sent {answer.url}"
    for text in cases:
        done = subprocess.run(
            ["curl", "-sS", "-G", "--data-urlencode", f"q={text}", "-H", f"Authorization: Bearer {viewer}",
             server.url + path], capture_output=True, text=True, timeout=30)
        assert json.loads(done.stdout)["results"], done.stdout
        assert server.embeddings.inputs[-1] == [text], "curl -G --data-urlencode"
    assert requests.get(server.url + path + "?q=a%00b", headers={"Authorization": f"Bearer {viewer}"}).status_code == 400


def test_filters_and_modes_arrive_as_sent_from_requests_and_curl(server):
    project = embedded_project(server)
    viewer = {"Authorization": f"Bearer {token(server, 'viewer')}"}
    path = server.url + f"/api/projects/{project}/search"
    only_gamma = json.dumps({"text": {"$in": ["gamma"]}})

    def texts(answer):
        assert answer.status_code == 200, answer.text
        return [result["text"] for result in answer.json()["results"]]

    assert texts(requests.get(path, params={"q": "alpha123", "filter": only_gamma}, headers=viewer)) == ["gamma"]
    done = subprocess.run(
        ["curl", "-sS", "-G", "--data-urlencode", "q=alpha123", "--data-urlencode", f"filter={only_gamma}",
         "-H", f"Authorization: Bearer {viewer['Authorization'][7:]}", path], capture_output=True, text=True, timeout=30)
    assert [result["text"] for result in json.loads(done.stdout)["results"]] == ["gamma"], done.stdout
    posted = requests.post(path, json={"query": "alpha123 gamma", "filter": {"$not": {"text": "gamma"}}, "mode": "hybrid"}, headers=viewer)
    assert texts(posted) == ["alpha123 beta123"]
    first = posted.json()["results"][0]
    assert first["keywordRank"] == 1 and first["vectorRank"] == 1 and first["score"] > 0
    keyword = requests.get(path, params={"q": "BETA123", "mode": "keyword"}, headers=viewer)
    assert texts(keyword) == ["alpha123 beta123"]
    assert keyword.json()["search"] is None

    # Hostile filters: a NUL, a value that only looks like another (a combining accent), deep and huge ones.
    nul = requests.post(path, json={"query": "x", "filter": {"text": "gam\u0000ma"}}, headers=viewer)
    assert nul.status_code == 400 and "NUL" in nul.json()["error"]
    assert texts(requests.post(path, json={"query": "x", "filter": {"text": "gamma\u0301"}}, headers=viewer)) == []
    deep = {"text": "gamma"}
    for _ in range(40):
        deep = {"$not": deep}
    refused = requests.post(path, json={"query": "x", "filter": deep}, headers=viewer)
    assert refused.status_code == 400 and "deeper" in refused.json()["error"], refused.text
    wide = requests.post(path, json={"query": "x", "filter": {f"f{n}": n for n in range(5000)}}, headers=viewer)
    assert wide.status_code == 400 and "conditions" in wide.json()["error"], wide.text
    huge = requests.post(path, json={"query": "x", "filter": {"text": {"$in": ["y" * 1000] * 400}}}, headers=viewer)
    assert huge.status_code == 413, huge.text
    unknown = requests.get(path, params={"q": "x", "filter": json.dumps({"text": {"$regex": "^g"}})}, headers=viewer)
    assert unknown.status_code == 400 and unknown.json()["error"].startswith("filter at text.$regex: unknown operator")


def test_a_token_program_needs_no_origin_check_but_a_cookie_does(server):
    admin = {"Authorization": f"Bearer {token(server, 'admin')}"}
    job = server.enqueue("VECTORIZE", {"projectId": "none"}, delay=3600)
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    answer = requests.post(server.url + f"/api/admin/queue/cancel?jobId={job}", headers={**admin, **cross_site})
    assert answer.status_code == 200, answer.text
    status, _, headers = server._request("POST", "/api/auth/login", {"email": "admin@example.com", "password": "correct horse battery"})
    cookie = headers["Set-Cookie"].split(";")[0]
    refused = requests.post(server.url + "/api/projects", json={"name": "x"}, headers={"Cookie": cookie, **cross_site})
    assert refused.status_code == 403
    # A body sent as a form (what an injected <form enctype=text/plain> would post) is refused.
    form = requests.post(server.url + "/api/admin/queue/bulk", data='{"action": "cancel"}', headers={**admin, "Content-Type": "text/plain"})
    assert form.status_code == 415
    assert form.headers["X-Content-Type-Options"] == "nosniff"
    server.cli("tokens", "revoke", next(line.split()[0] for line in server.cli("tokens", "list").splitlines()[1:] if line.startswith("admin-")))
    assert requests.get(server.url + "/api/auth/me", headers=admin).status_code == 401


def test_hostile_text_stays_text_in_the_browser(browser):
    server = browser.sluice
    # Reflected into the sign-in page: a quote joined to a combining mark, tags after a prepended mark.
    attribute = '/"\u0301 autofocus onfocus=window.__injected=1 x="'
    browser.get(server.url + "/login?" + urllib.parse.urlencode({"next": attribute}))
    field = browser.find_element(By.CSS_SELECTOR, "input[name=next]")
    assert field.get_attribute("value") == attribute
    assert field.get_attribute("onfocus") is None and field.get_attribute("autofocus") is None
    meta = "/\u0600\" \u0600>\u0600<meta http-equiv=refresh content=0;url=/assets/monitor.css \u0600>"
    browser.get(server.url + "/login?" + urllib.parse.urlencode({"next": meta}))
    time.sleep(1.5)
    assert "/login" in browser.current_url, "no injected refresh took the page away"
    assert browser.find_elements(By.CSS_SELECTOR, "meta[http-equiv]") == []
    assert browser.find_element(By.CSS_SELECTOR, "input[name=next]").get_attribute("value") == meta

    # Stored: a record's text on the job page, and a job's error in the table.
    hostile = "\u0600<b id=stored-injection>bold\u0600</b>\"\u0301"
    job = server.enqueue("VECTORIZE", {"projectId": "hostile", "text": hostile}, delay=3600)
    sign_in(browser, "admin", start=f"/admin/queue-monitor/jobs/{job}")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "job-detail"))
    assert browser.find_elements(By.ID, "stored-injection") == []
    assert "<b id=stored-injection>" in browser.find_element(By.TAG_NAME, "main").text

    # The find-by-id form sends spaces as '+': the id typed with spaces around it still finds the job.
    browser.get(server.url + "/admin/queue-monitor")
    field = WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "find-id"))
    field.send_keys(f"  {job} ", Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith(f"/admin/queue-monitor/jobs/{job}"))
