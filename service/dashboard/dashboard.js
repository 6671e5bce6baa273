// switchyard's dashboard: plots fed by /api/v1/events (one sample a second),
// tables from /api/v1/status and /api/v1/mismatches (every 5 s), and the
// cutover / failback buttons over the API with the token typed in the page
// (kept in this tab's sessionStorage only).
"use strict";

const kKeep = 900;  // samples on the plots: 15 minutes
const $ = (id) => document.getElementById(id);
const text = (value) => (value === null || value === undefined ? "" : String(value));

function cell(row, value, cls) {
  const td = row.insertCell();
  td.textContent = text(value);
  if (cls) td.className = cls;
  return td;
}

function pill(id, value, good, bad) {
  const el = $(id);
  el.textContent = value;
  el.className = "pill" + (good.includes(value) ? " ok" : bad.includes(value) ? " bad" : " warn");
}

function plot(target, series) {
  const width = Math.max(400, target.parentElement.clientWidth - 32);
  return new uPlot({
    width, height: 220,
    scales: { x: { time: true } },
    series: [{}].concat(series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))),
    axes: [{}, { size: 60 }],
  }, [[]].concat(series.map(() => [])), target);
}

const lagPlot = plot($("lag-plot"), [{ label: "lag s", color: "#c0392b" }]);
const ratePlot = plot($("rate-plot"), [{ label: "tx/s", color: "#2e6bd1" },
                                       { label: "changes/s", color: "#1f7a3d" }]);
const lag = [[], []];
const rate = [[], [], []];
let previous = null;

function push(columns, values) {
  values.forEach((v, i) => columns[i].push(v));
  if (columns[0].length > kKeep) columns.forEach((c) => c.shift());
}

function onSample(sample) {
  const t = sample.time;
  push(lag, [t, sample.lag_seconds]);
  if (previous && t > previous.time) {
    const dt = t - previous.time;
    push(rate, [t, (sample.transactions_applied - previous.transactions_applied) / dt,
                (sample.changes_applied - previous.changes_applied) / dt]);
  }
  previous = sample;
  lagPlot.setData(lag);
  ratePlot.setData(rate);
  onState(sample);
  $("updated").textContent = "updated " + new Date(t * 1000).toLocaleTimeString();
}

function onState(state) {
  pill("direction", state.direction || "?", ["forward", "reverse"], []);
  pill("phase", state.phase, ["streaming"], ["stopped"]);
  pill("verify-job", state.jobs.verify, ["running"], ["failed"]);
  const run = state.run;
  pill("run", run ? run.kind + " " + run.run_id + " " + run.state : "none", ["none"], []);
}

function events() {
  const source = new EventSource("/api/v1/events");
  source.addEventListener("sample", (e) => onSample(JSON.parse(e.data)));
  source.addEventListener("state", (e) => onState(JSON.parse(e.data)));
  source.onerror = () => pill("phase", "unreachable", [], ["unreachable"]);
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  return response.json();
}

function showTables(status) {
  $("stream").textContent = status.name;
  const body = $("tables").tBodies[0];
  body.replaceChildren();
  for (const table of status.tables) {
    const row = body.insertRow();
    cell(row, table.name);
    const verdict = table.verify.status || "not yet";
    cell(row, verdict, verdict === "clean" ? "pass" : verdict === "mismatch" ? "fail" : "");
    cell(row, table.verify.finished_at);
    cell(row, table.verify.open_mismatches, table.verify.open_mismatches ? "fail" : "");
    cell(row, table.verify.marked_whole ? "whole table" : table.verify.marked_keys);
  }
  showRun(status.last_switch);
}

function showRun(run) {
  const body = $("timeline").tBodies[0];
  body.replaceChildren();
  if (!run) return;
  $("last-run").textContent = `${run.operation} run ${run.run_id}: ${run.state}` +
      (run.freeze_ms !== null ? `, writes frozen ${run.freeze_ms} ms` : "") +
      (run.requested_by ? `, asked by ${run.requested_by}` : "") + ` (started ${run.started_at})`;
  const longest = Math.max(1, ...run.steps.map((s) => s.duration_ms || 0));
  for (const step of run.steps) {
    const row = body.insertRow();
    cell(row, `${step.step_no} ${step.step}`);
    cell(row, step.state, step.state === "failed" ? "fail" : "");
    const bar = row.insertCell();
    const span = document.createElement("span");
    span.className = "bar" + (step.step_no >= 2 && step.step_no <= 8 ? " frozen" : "");
    span.style.width = (200 * (step.duration_ms || 0) / longest) + "px";
    bar.append(span, ` ${text(step.duration_ms)} ms`);
    cell(row, step.detail, "muted");
  }
}

function showMismatches(found) {
  const body = $("mismatches").tBodies[0];
  body.replaceChildren();
  for (const m of found.mismatches) {
    const row = body.insertRow();
    cell(row, m.table);
    cell(row, JSON.stringify(m.key));
    cell(row, m.kind);
    cell(row, m.first_seen);
  }
  $("mismatch-count").textContent = `${found.open} open`;
}

async function refresh() {
  try {
    showTables(await getJson("/api/v1/status"));
    showMismatches(await getJson("/api/v1/mismatches?limit=20"));
  } catch (error) {
    $("verify-figures").textContent = "status unavailable: " + error;
  }
}

function showAnswer(status, body) {
  const out = $("answer");
  out.replaceChildren();
  const plan = body.plan || (body.checks ? body : null);
  const head = document.createElement("p");
  head.textContent = `${status}: ` + (body.error || (plan ? `${plan.operation} preflight ${plan.preflight}` : "")) +
      (body.run_id ? ` — run ${body.run_id} (${body.location})` : "");
  head.className = status < 300 ? "pass" : "fail";
  out.append(head);
  if (!plan) return;
  const table = document.createElement("table");
  table.id = "plan";
  for (const check of plan.checks) {
    const row = table.insertRow();
    cell(row, check.passed ? "ok" : "FAIL", check.passed ? "pass" : "fail");
    cell(row, check.name);
    cell(row, check.measured);
    cell(row, check.threshold, "muted");
    if (!check.passed) cell(row, check.reason, "fail");
  }
  const steps = document.createElement("p");
  steps.className = "muted";
  steps.textContent = "steps: " + plan.steps.map((s) => `${s.step_no} ${s.step}${s.writes_frozen ? "*" : ""}`).join(", ") +
      ` (* writes frozen, at most ${plan.freeze_budget_ms} ms)`;
  out.append(table, steps);
}

async function mutate(operation, dryRun) {
  const token = $("token").value.trim();
  sessionStorage.setItem("switchyard-token", token);
  if (!dryRun && !confirm(`Really ${operation}? Writes freeze for up to the freeze budget.`)) return;
  $("answer").textContent = "asking…";
  const response = await fetch(`/api/v1/${operation}` + (dryRun ? "?dry_run=true" : ""), {
    method: "POST", headers: token ? { Authorization: "Bearer " + token } : {},
  });
  showAnswer(response.status, await response.json());
}

$("token").value = sessionStorage.getItem("switchyard-token") || "";
$("dry-cutover").onclick = () => mutate("cutover", true);
$("dry-failback").onclick = () => mutate("failback", true);
$("do-cutover").onclick = () => mutate("cutover", false);
$("do-failback").onclick = () => mutate("failback", false);
window.switchyard = { lagPlot, ratePlot };  // for the page's test
events();
refresh();
setInterval(refresh, 5000);
