// The Zenith operator console: pages over the ground station's JSON API, live through a websocket.
import { drawPlot } from "./plot.js";

const state = { dictionary: null, channels: new Map(), latest: new Map(), history: new Map(),
                plotted: new Map(), events: [], commands: new Map(), stack: [] };
const $ = (selector) => document.querySelector(selector);
const utc = (t) => new Date(t * 1000).toISOString().replace("T", " ").slice(0, 23);
// Text that came down the link goes into markup escaped: telemetry is data, never page code.
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.field}: ${body.error}`);
  return body;
}

// Commanding: the operator's token (typed once on the command page) goes with every POST.
function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json", "X-Zenith-Token": $("#token").value },
                     body: JSON.stringify(body) });
}

function limitClass(name, value) {
  const channel = state.channels.get(name);
  if (!channel) return "";
  const l = channel.limits || {};
  if ((l.critical_values || []).includes(value)) return "critical";
  if (typeof value !== "number") return "";
  if ((l.critical_low !== undefined && value < l.critical_low) || (l.critical_high !== undefined && value > l.critical_high)) return "critical";
  if ((l.warning_low !== undefined && value < l.warning_low) || (l.warning_high !== undefined && value > l.warning_high)) return "warning";
  return "";
}

function show(value) {
  if (typeof value !== "number" || Number.isInteger(value)) return String(value);
  // Seven significant digits, but never fewer than the integer part: times and counters stay exact.
  return Math.abs(value) >= 1e6 ? value.toFixed(3) : String(+value.toPrecision(7));
}

// --- telemetry --------------------------------------------------------------------------------

function channelRows(tbody, names) {
  tbody.replaceChildren(...names.map((name) => {
    const row = document.createElement("tr");
    row.className = "clickable";
    row.dataset.channel = name;
    const sample = state.latest.get(name);
    const units = state.channels.get(name)?.units || "";
    row.innerHTML = `<td>${name}</td><td class="${sample ? limitClass(name, sample.value) : ""}" data-value>${sample ? show(sample.value) : "—"}</td><td>${units}</td><td data-time>${sample ? utc(sample.time) : ""}</td>`;
    row.addEventListener("click", () => plotChannel(name, row.closest(".page")));
    return row;
  }));
}

function renderTelemetry() {
  const filter = $("#tlm-filter").value.trim();
  const names = [...state.channels.keys()].filter((n) => n.includes(filter));
  channelRows($("#tlm-table tbody"), names);
}

function updateRows(values) {
  for (const [name, sample] of Object.entries(values)) {
    for (const row of document.querySelectorAll(`tr[data-channel="${CSS.escape(name)}"]`)) {
      const cell = row.querySelector("[data-value]");
      cell.textContent = show(sample.value);
      cell.className = limitClass(name, sample.value);
      row.querySelector("[data-time]").textContent = utc(sample.time);
    }
  }
}

async function plotChannel(name, page) {
  const canvas = page.querySelector("canvas");
  if (!canvas) return;
  const label = page.querySelector(".plot-name") || $("#plot-name");
  label.textContent = name;
  canvas.dataset.channel = name;
  if (!state.history.has(name)) {
    const body = await api(`/api/telemetry/history?channel=${encodeURIComponent(name)}`);
    state.history.set(name, body.values);
  }
  redraw(canvas);
}

function redraw(canvas) {
  const name = canvas.dataset.channel;
  if (name) drawPlot(canvas, name, state.history.get(name) || [], state.channels.get(name)?.limits);
}

// --- subsystem pages: the channels of a few prefixes, with one plotted ------------------------

function buildSubsystemPages() {
  for (const page of document.querySelectorAll(".page[data-prefixes]")) {
    const prefixes = page.dataset.prefixes.split(",");
    const names = [...state.channels.keys()].filter((n) => prefixes.some((p) => n.startsWith(p)));
    const wrapper = document.createElement("div");
    wrapper.className = "split";
    wrapper.innerHTML = `<div><table><thead><tr><th>channel</th><th>value</th><th>units</th><th>time (UTC)</th></tr></thead><tbody></tbody></table></div>
      <div><h2>Plot <span class="plot-name"></span></h2><canvas width="640" height="320"></canvas></div>`;
    page.append(wrapper);  // after what the page leads with (status, transfers, jobs)
    channelRows(wrapper.querySelector("tbody"), names);
    if (state.channels.has(page.dataset.plot)) plotChannel(page.dataset.plot, page);
  }
}

// --- jobs: what each job sent down --------------------------------------------------------------

async function renderJobs() {
  const body = await api("/api/jobs");
  $("#jobs-detail").replaceChildren(...body.jobs.map((job) => {
    const section = document.createElement("div");
    section.className = "job";
    section.dataset.job = job.job;
    const heading = document.createElement("h2");
    const last = job.loss.at(-1);
    heading.textContent = `Job ${job.job}` + (last ? `: step ${last[0]}, loss ${show(last[1])}` : "");
    section.append(heading);
    for (const answer of job.answers) {
      const p = document.createElement("p");
      p.className = "answer";
      p.innerHTML = "<b>prompt</b> <q></q><br><b>answer</b> <q></q>";
      const [prompt, text] = p.querySelectorAll("q");
      prompt.textContent = answer.prompt ?? "(not sent down)";
      text.textContent = answer.text + (answer.truncated ? ` … (whole text in ${answer.file})` : "");
      section.append(p);
    }
    for (const sample of job.samples.slice(-3)) {
      const pre = document.createElement("pre");
      pre.className = "sample";
      pre.textContent = `sample at step ${sample.step}:\n${sample.text}`;
      section.append(pre);
    }
    return section;
  }));
}

// --- files ------------------------------------------------------------------------------------

async function renderTransfers() {
  const body = await api("/api/files");
  $("#transfers tbody").replaceChildren(...body.transfers.sort((a, b) => b.started - a.started).map((t) => {
    const row = document.createElement("tr");
    row.dataset.transfer = t.id;
    const percent = t.size ? Math.min(100, (100 * t.progress) / t.size) : 0;
    row.innerHTML = `<td></td><td>${escape(t.kind)}</td><td></td><td>${escape(t.state)}${t.condition ? " (" + escape(t.condition) + ")" : ""}</td>
      <td><progress max="100" value="${percent}"></progress> ${t.progress} / ${t.size ?? "?"} octets</td>
      <td>${t.verified ? "verified" : ""}</td><td></td>`;
    row.children[0].textContent = t.id;
    row.children[2].textContent = t.remote;
    if (t.kind === "get" && t.state === "finished" && t.verified) {
      const link = document.createElement("a");
      link.href = `/api/files/${encodeURIComponent(t.id)}/content`;
      link.textContent = "download";
      row.children[6].append(link);
    }
    return row;
  }));
}

async function fetchFile() {
  $("#fetch-error").textContent = "";
  try {
    await post("/api/files", { remote: $("#fetch-remote").value });
    await renderTransfers();
  } catch (error) {
    $("#fetch-error").textContent = error.message;
  }
}

// --- events -----------------------------------------------------------------------------------

function renderEvents() {
  const order = state.dictionary.severities;
  const least = $("#ev-severity").value, source = $("#ev-source").value;
  const shown = state.events.filter((e) => (!least || order.indexOf(e.severity) >= order.indexOf(least))
                                          && (!source || e.source === source));
  $("#ev-table tbody").replaceChildren(...shown.slice(-500).reverse().map((e) => {
    const row = document.createElement("tr");
    row.innerHTML = `<td>${utc(e.time)}</td><td>${escape(e.severity)}</td><td>${escape(e.name)}</td><td></td>`;
    row.lastChild.textContent = e.message;
    return row;
  }));
  const sources = new Set(state.events.map((e) => e.source));
  const select = $("#ev-source");
  for (const s of sources) if (![...select.options].some((o) => o.value === s)) select.add(new Option(s, s));
}

// --- commands ---------------------------------------------------------------------------------

function commandForm() {
  const command = state.dictionary.commands.find((c) => c.name === $("#cmd-name").value);
  $("#cmd-description").textContent = command.description;
  $("#cmd-form").replaceChildren(...command.arguments.map((a) => {
    const label = document.createElement("label");
    label.textContent = `${a.name} (${a.type}${a.units ? ", " + a.units : ""}) `;
    let input;
    if (a.type === "enum") {
      input = document.createElement("select");
      for (const v of a.values) input.add(new Option(v, v));
    } else if (a.type === "bool") {
      input = document.createElement("input");
      input.type = "checkbox";
    } else {
      input = document.createElement("input");
      if (/^[ui]\d+$|^f\d+$/.test(a.type)) {
        input.type = "number";
        input.step = a.type.startsWith("f") ? "any" : "1";
        if (a.min !== undefined) input.min = a.min;
        if (a.max !== undefined) input.max = a.max;
      }
      if (a.max_length !== undefined) input.maxLength = a.type === "bytes" ? 2 * a.max_length : a.max_length;
      input.required = true;
    }
    input.name = a.name;
    input.dataset.type = a.type;
    input.title = a.description;
    label.append(input);
    return label;
  }));
}

function formArguments() {
  const out = {};
  for (const input of $("#cmd-form").querySelectorAll("input, select")) {
    const type = input.dataset.type;
    if (type === "bool") out[input.name] = input.checked;
    else if (/^[ui]\d+$/.test(type)) out[input.name] = input.value === "" ? null : Number.parseInt(input.value, 10);
    else if (/^f\d+$/.test(type)) out[input.name] = input.value === "" ? null : Number(input.value);
    else out[input.name] = input.value;
  }
  return out;
}

async function send(name, args) {
  $("#cmd-error").textContent = "";
  try {
    const body = await post("/api/commands", { name, arguments: args });
    state.commands.set(body.command_id, { id: body.command_id, name, sent: Date.now() / 1000, stages: [] });
    renderHistory();
    return true;
  } catch (error) {
    $("#cmd-error").textContent = error.message;
    return false;
  }
}

function renderHistory() {
  const rows = [...state.commands.values()].sort((a, b) => b.id - a.id).slice(0, 100);
  $("#cmd-history tbody").replaceChildren(...rows.map((c) => {
    const row = document.createElement("tr");
    row.dataset.command = c.id;
    const stages = c.stages.map((s) => `<span class="${s.ok ? "stage-ok" : "stage-bad"}">${s.stage}${s.ok ? "" : " ✗ " + escape(s.field || s.code)}</span>`).join(" → ");
    row.innerHTML = `<td>${c.id}</td><td>${escape(c.name)}</td><td>${utc(c.sent)}</td><td data-stages>${stages || "sent"}</td>`;
    return row;
  }));
}

function renderStack() {
  $("#stack").replaceChildren(...state.stack.map(({ name, args }) => {
    const item = document.createElement("li");
    item.textContent = `${name} ${JSON.stringify(args)}`;
    return item;
  }));
}

// --- live -------------------------------------------------------------------------------------

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`);
  socket.onopen = () => { $("#connection").textContent = "live"; $("#connection").className = "good"; };
  socket.onclose = () => {
    $("#connection").textContent = "offline"; $("#connection").className = "bad";
    setTimeout(connect, 2000);
  };
  socket.onmessage = (message) => {
    const update = JSON.parse(message.data);
    if (update.type === "telemetry") {
      for (const [name, sample] of Object.entries(update.values)) {
        state.latest.set(name, sample);
        if (state.history.has(name)) state.history.get(name).push([sample.time, sample.value]);
      }
      updateRows(update.values);
      for (const canvas of document.querySelectorAll("canvas[data-channel]")) {
        if (canvas.dataset.channel in update.values) redraw(canvas);
      }
      if ("job.step" in update.values && $("#page-jobs").classList.contains("active")) renderJobs();
    } else if (update.type === "events") {
      state.events.push(...update.events);
      renderEvents();
    } else if (update.type === "commands") {
      for (const c of update.commands) state.commands.set(c.id, c);
      renderHistory();
    }
  };
}

function statusRows(station) {
  const c = station.counters || {}, clcw = station.clcw;
  const frames = c["tm_demux.frames"] || 0, missing = c["tm_demux.mc_frames_missing"] || 0;
  const rejected = Object.entries(c).filter(([k]) => k.startsWith("tm_demux.rejected_")).reduce((n, [, v]) => n + v, 0);
  return [
    ["contact", station.in_contact ? "in contact (AOS)" : "no contact (LOS)"],
    ["COP-1 (FOP-1) state", station.fop_state],
    ["V(S), NN(R)", `${station.fop.v_s}, ${station.fop.nn_r} (${station.fop.outstanding} of ${station.fop.window} outstanding)`],
    ["last CLCW", clcw ? `VC ${clcw.vcid} N(R) ${clcw.report_value}${clcw.lockout ? " LOCKOUT" : ""}${clcw.wait ? " WAIT" : ""}${clcw.retransmit ? " RETRANSMIT" : ""}, FARM-B ${clcw.farm_b_counter}` : "none yet"],
    ["commands waiting for the uplink", station.uplink_pending],
    ["TM frames received, missing, rejected", `${frames}, ${missing}, ${rejected}`],
    ["frame loss", frames + missing ? `${(100 * missing / (frames + missing)).toFixed(2)} %` : "—"],
    ["packets archived", station.packets],
    ["packets missing (gap fill)", `${station.missing} in ${station.gap_fill.holes} holes; ${station.gap_fill.outages_waiting} outages to ask for by time`],
  ];
}

const duration = (s) => (s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

async function refreshPasses() {
  const body = await api("/api/passes");
  if (!body.configured) {
    $("#passes tbody").innerHTML = "<tr><td colspan='6'>no orbit configured: [ground.passes] in the mission file</td></tr>";
    return;
  }
  $("#passes tbody").replaceChildren(...body.passes.slice(0, 10).map((p) => {
    const row = document.createElement("tr");
    row.innerHTML = `<td>${escape(p.station)}</td><td>${utc(p.aos)}</td><td>${utc(p.los)}</td><td>${p.max_elevation_deg}°</td>
      <td>${p.now ? "now" : duration(p.in_s)}</td><td>${duration(p.for_s)}</td>`;
    return row;
  }));
}

async function refreshStatus() {
  refreshPasses().catch((error) => { $("#passes tbody").textContent = String(error); });
  try {
    const body = await api("/api/status");
    if (!body.station_reachable) throw new Error(body.station.error);
    $("#station-status").replaceChildren(...statusRows(body.station).map(([name, value]) => {
      const row = document.createElement("tr");
      row.innerHTML = "<th></th><td></td>";
      row.firstChild.textContent = name;
      row.lastChild.textContent = String(value);
      return row;
    }));
  } catch (error) {
    $("#station-status").textContent = `station: ${error.message}`;
  }
}

async function start() {
  state.dictionary = await api("/api/dictionary");
  $("#mission").textContent = `${state.dictionary.mission.name} console`;
  for (const c of state.dictionary.channels) state.channels.set(c.name, c);
  const latest = await api("/api/telemetry/latest");
  for (const [name, sample] of Object.entries(latest.values)) state.latest.set(name, sample);
  state.events = (await api("/api/events?limit=500")).events;
  for (const c of (await api("/api/commands")).commands) state.commands.set(c.id, c);
  for (const s of state.dictionary.severities) $("#ev-severity").add(new Option(s, s));
  for (const c of state.dictionary.commands) $("#cmd-name").add(new Option(c.name, c.name));
  $("#token").value = sessionStorage.getItem("zenith-token") || "";
  $("#token").addEventListener("change", () => sessionStorage.setItem("zenith-token", $("#token").value));
  $("#cmd-name").addEventListener("change", commandForm);
  $("#cmd-send").addEventListener("click", () => send($("#cmd-name").value, formArguments()));
  $("#cmd-queue").addEventListener("click", () => { state.stack.push({ name: $("#cmd-name").value, args: formArguments() }); renderStack(); });
  $("#stack-release").addEventListener("click", async () => {
    if (state.stack.length && await send(state.stack[0].name, state.stack[0].args)) { state.stack.shift(); renderStack(); }
  });
  $("#tlm-filter").addEventListener("input", renderTelemetry);
  $("#ev-severity").addEventListener("change", renderEvents);
  $("#ev-source").addEventListener("change", renderEvents);
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => {
      document.querySelectorAll("#tabs button, .page").forEach((e) => e.classList.remove("active"));
      button.classList.add("active");
      $(`#page-${button.dataset.page}`).classList.add("active");
      if (button.dataset.page === "link") refreshStatus();
      if (button.dataset.page === "jobs") renderJobs();
      if (button.dataset.page === "files") renderTransfers();
    });
  }
  renderTelemetry();
  buildSubsystemPages();
  renderEvents();
  commandForm();
  renderHistory();
  connect();
  setInterval(() => {
    if ($("#page-link").classList.contains("active")) refreshStatus();
    if ($("#page-files").classList.contains("active")) renderTransfers();
  }, 2000);
  $("#fetch").addEventListener("click", fetchFile);
  document.body.dataset.ready = "true";
}

start();
