// Sluice queue monitor: refreshes the server-rendered live fragment in place, draws the throughput chart, and
// sends retry and cancel requests to the admin API. No framework and no build step.
//
// Every value from a job reaches the page through the server's templates (which escape it) or through
// textContent here; nothing built from job data is ever assigned as HTML in this file.
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);

  // MARK: Feedback

  let toastTimer = null;
  function toast(message, kind = "ok") {
    const box = $("#toast");
    if (!box) return;
    box.textContent = message;
    box.className = `toast ${kind}`;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  /** Asks in the page's dialog; resolves true when the user confirms. */
  function confirmAction(text, confirmLabel) {
    const dialog = $("#confirm");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(text));
    $("#confirm-text").textContent = text;
    $("#confirm-ok").textContent = confirmLabel;
    dialog.returnValue = "";
    dialog.showModal();
    $("#confirm-back").focus();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  /** A JSON request to the API; throws with the server's `error` message when the answer is not 2xx. */
  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
    return data;
  }

  const short = (id) => (id.length > 12 ? `…${id.slice(-8)}` : id);
  const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

  // MARK: Retry and cancel one job

  let refresh = async () => { window.location.reload(); };

  async function singleAction(button) {
    const action = button.dataset.action;
    const id = button.dataset.jobId;
    const question = action === "retry"
      ? `Retry job ${short(id)}? It goes back to PENDING with its attempts reset.`
      : `Cancel job ${short(id)}? It is marked FAILED and its worker is told to stop.`;
    if (!(await confirmAction(question, action === "retry" ? "Retry job" : "Cancel job"))) return;
    button.disabled = true;
    try {
      await api("POST", `/api/admin/queue/${action}?jobId=${encodeURIComponent(id)}`);
      toast(action === "retry" ? `Job ${short(id)} is PENDING again.` : `Job ${short(id)} was cancelled.`);
    } catch (error) {
      toast(`Could not ${action} job ${short(id)}: ${error.message}`, "error");
    }
    await refresh();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) singleAction(button);
  });

  // MARK: The monitor page

  const monitor = $("#monitor");
  if (!monitor) return;

  const seconds = Number(monitor.dataset.refreshSeconds) || 5;
  const filters = $("#filters");
  let lastUpdate = Date.now();
  let inFlight = null;

  function filterQuery() {
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(filters)) if (value) query.set(key, value);
    return query;
  }

  function setConnection(state, label) {
    const badge = $("#connection");
    badge.className = `connection ${state}`;
    badge.textContent = label;
  }

  function showProblem(message, signInLink) {
    const banner = $("#offline");
    banner.textContent = message;
    if (signInLink) {
      const link = document.createElement("a");
      link.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
      link.textContent = "Sign in again";
      banner.append(" ", link);
    }
    banner.hidden = false;
  }

  function tick() {
    const age = Math.round((Date.now() - lastUpdate) / 1000);
    $("#updated").textContent = age < 2 ? "Updated just now" : `Updated ${age} s ago`;
  }

  // A refresh must not take the keyboard focus away: the focused button or link is found again in the new
  // fragment by what it points at.
  function focusSelector(element) {
    if (!element || !$("#live").contains(element)) return null;
    if (element.dataset.action) {
      return `button[data-action="${element.dataset.action}"][data-job-id="${CSS.escape(element.dataset.jobId)}"]`;
    }
    if (element.tagName === "A") return `a[href="${CSS.escape(element.getAttribute("href"))}"]`;
    return null;
  }

  let lastFragment = null;
  function replaceLive(html) {
    if (html === lastFragment) return;
    lastFragment = html;
    const selector = focusSelector(document.activeElement);
    // Server-rendered by the live template, which escapes every value.
    $("#live").innerHTML = html;
    if (selector) $(selector, $("#live"))?.focus();
  }

  refresh = () => {
    if (inFlight) return inFlight;
    inFlight = (async () => {
      try {
        const query = filterQuery().toString();
        const [live, throughput] = await Promise.all([
          fetch(`/admin/queue-monitor/live${query ? `?${query}` : ""}`, { credentials: "same-origin" }),
          fetch("/api/admin/queue/throughput?minutes=60", { credentials: "same-origin" }),
        ]);
        if (live.status === 401 || live.status === 403) {
          setConnection("offline", "Signed out");
          showProblem("Your session has ended or lost its access.", true);
          return;
        }
        if (!live.ok) throw new Error(`the server answered ${live.status}`);
        replaceLive(await live.text());
        if (throughput.ok) drawThroughput(await throughput.json());
        lastUpdate = Date.now();
        $("#offline").hidden = true;
        setConnection(document.hidden ? "paused" : "live", document.hidden ? "Paused" : "Live");
      } catch (error) {
        setConnection("offline", "Offline");
        const message = error instanceof TypeError ? "the network request failed" : error.message;
        showProblem(`Cannot reach the server (${message}). Showing what was loaded ${Math.round((Date.now() - lastUpdate) / 1000)} s ago; retrying every ${seconds} s.`, false);
      } finally {
        inFlight = null;
        tick();
      }
    })();
    return inFlight;
  };

  setInterval(() => { if (!document.hidden) tick(); }, 1000);
  setInterval(() => { if (!document.hidden) refresh(); }, seconds * 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      setConnection("paused", "Paused");
    } else {
      refresh();
    }
  });
  $("#refresh-now").addEventListener("click", () => refresh());
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = filterQuery().toString();
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
    refresh();
  });
  for (const select of filters.querySelectorAll("select")) {
    select.addEventListener("change", () => filters.requestSubmit());
  }

  // MARK: Bulk actions

  async function bulk(action) {
    const query = filterQuery();
    const what = action === "retry" ? "failed" : "pending or processing";
    try {
      query.set("action", action);
      const preview = await api("GET", `/api/admin/queue/bulk?${query}`);
      if (preview.matching === 0) {
        toast(`No ${what} jobs match the filter.`);
        return;
      }
      const count = Math.min(preview.matching, preview.limit);
      let question = `${action === "retry" ? "Retry" : "Cancel"} ${plural(count, `${what} job`)} matching the filter?`;
      if (preview.matching > preview.limit) {
        question += ` ${preview.matching} match; at most ${preview.limit} are changed per action, oldest first.`;
      }
      if (!(await confirmAction(question, `${action === "retry" ? "Retry" : "Cancel"} ${count}`))) return;
      const body = { action };
      if (query.get("status")) body.status = query.get("status");
      if (query.get("jobType")) body.jobType = query.get("jobType");
      const result = await api("POST", "/api/admin/queue/bulk", body);
      let message = `${action === "retry" ? "Retried" : "Cancelled"} ${plural(result.changed, "job")}.`;
      if (result.skipped) message += ` ${result.skipped} changed state first and were left alone.`;
      if (result.remaining) message += ` ${result.remaining} still match.`;
      toast(message);
    } catch (error) {
      toast(`Bulk ${action} failed: ${error.message}`, "error");
    }
    await refresh();
  }

  for (const button of document.querySelectorAll("button[data-bulk]")) {
    button.addEventListener("click", () => bulk(button.dataset.bulk));
  }

  // MARK: Throughput chart (SVG)

  const svgNS = "http://www.w3.org/2000/svg";
  function svg(name, attributes, text) {
    const node = document.createElementNS(svgNS, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawThroughput(data) {
    const chart = $("#throughput");
    const minutes = data.minutes || [];
    const width = 600, height = 150, top = 4;
    const peak = Math.max(1, ...minutes.map((m) => m.completed + m.failed));
    const slot = width / Math.max(minutes.length, 1);
    const scale = (count) => (count / peak) * (height - top);
    const nodes = [svg("line", { class: "grid", x1: 0, x2: width, y1: top, y2: top })];
    minutes.forEach((minute, index) => {
      const x = index * slot + 1;
      const completed = scale(minute.completed);
      const failed = scale(minute.failed);
      const group = svg("g", {});
      const time = new Date(minute.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      group.append(svg("title", {}, `${time}: ${minute.completed} completed, ${minute.failed} failed`));
      group.append(svg("rect", { class: "bar-completed", x, width: Math.max(slot - 2, 1), y: height - completed, height: completed }));
      group.append(svg("rect", { class: "bar-failed", x, width: Math.max(slot - 2, 1), y: height - completed - failed, height: failed }));
      nodes.push(group);
    });
    chart.replaceChildren(...nodes);
    $("#throughput-total").textContent = `(${data.completed} completed, ${data.failed} failed in the last hour)`;
    $("#throughput-peak").textContent = `${peak} per minute`;
    chart.dataset.completed = data.completed;
    chart.dataset.failed = data.failed;
  }

  refresh();
})();
