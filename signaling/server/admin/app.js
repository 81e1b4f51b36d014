// The experimenter's dashboard: follows /admin/events (a view of the
// selected session pushed on every change) and acts through /api/ with the
// login's CSRF token. Every text goes in with textContent: nothing a
// participant typed is ever read as HTML.
"use strict";

const csrf = document.querySelector('meta[name="csrf"]').content;
const $ = (id) => document.getElementById(id);
let current = new URLSearchParams(location.search).get("session") || localStorage.getItem("parley-session") || "";
let view = null;
let received = 0; // when the view came (ms, this browser's clock)
let stream = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function button(text, onclick, cls) {
  const b = el("button", text, cls);
  b.type = "button";
  b.addEventListener("click", onclick);
  return b;
}

function problem(text) {
  const p = $("problem");
  p.textContent = text || "";
  p.hidden = !text;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    problem((data && data.error) || res.statusText);
    throw new Error(data.error || res.statusText);
  }
  problem("");
  return data;
}

const sessionPath = () => "/api/sessions/" + encodeURIComponent(current);

function follow() {
  if (stream) stream.close();
  stream = new EventSource("/admin/events?session=" + encodeURIComponent(current));
  stream.addEventListener("view", (e) => {
    view = JSON.parse(e.data);
    received = Date.now();
    $("live").textContent = "live";
    render();
  });
  stream.addEventListener("problem", (e) => problem(JSON.parse(e.data)));
  stream.addEventListener("logout", () => location.reload());
  stream.onerror = () => { $("live").textContent = "reconnecting…"; };
}

function clock(s) {
  if (s === undefined || s === null) return "";
  s = Math.max(0, Math.round(s - (Date.now() - received) / 1000));
  return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
}

function pausedClock(g) {
  if (!g || g.time_left_s === undefined) return "";
  const s = Math.round(g.time_left_s);
  return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
}

function renderSessions() {
  const sel = $("session");
  sel.replaceChildren();
  const none = el("option", "— choose a session —");
  none.value = "";
  sel.append(none);
  for (const s of view.sessions) {
    const o = el("option", s.code + " · " + s.room + " · " + s.state + (s.all_groups_ended ? " (all groups ended)" : "") +
      " · " + s.connected + "/" + s.participants + " connected");
    o.value = s.code;
    if (s.code === current) o.selected = true;
    sel.append(o);
  }
  const s = view.sessions.find((x) => x.code === current);
  $("session-info").textContent = s ? "Session " + s.code + ": " + s.state + ", " + s.settings.duration_s + " s, matching " +
    s.settings.matching + ", recording " + (s.settings.record || "off") + ", " + s.groups + " groups" : "No session chosen.";
  $("start-session").disabled = !s || s.state !== "open";
  $("end-session").disabled = !s || s.state === "ended";
}

function renderGroups() {
  const body = $("groups").tBodies[0];
  body.replaceChildren();
  // The "all groups" buttons change every clock that runs or is paused.
  const anyClock = view.groups.some((g) => g.state === "running" || g.state === "paused");
  $("more-time-all").disabled = !anyClock;
  $("less-time-all").disabled = !anyClock;
  for (const g of view.groups) {
    const tr = el("tr");
    tr.id = "group-" + g.num;
    tr.append(el("td", g.num), el("td", g.seats.join(", ")));
    const st = el("td");
    st.append(el("span", g.state, "state state-" + g.state));
    tr.append(st);
    const left = el("td", g.state === "paused" ? pausedClock(g) : clock(g.time_left_s), "time-left");
    if (g.state === "running") left.dataset.left = g.time_left_s;
    tr.append(left);
    const ctl = el("td");
    const path = sessionPath() + "/groups/" + g.num;
    if (g.state !== "ended") {
      if (g.state === "running" || g.state === "paused") {
        ctl.append(button("+1 min", () => api("POST", path + "/time", { delta_s: 60 }), "more-time"));
        ctl.append(button("−1 min", () => api("POST", path + "/time", { delta_s: -60 }), "less-time"));
      }
      if (g.state === "running") ctl.append(button("Pause", () => api("POST", path + "/pause"), "pause"));
      if (g.state === "paused") ctl.append(button("Resume", () => api("POST", path + "/resume"), "resume"));
      ctl.append(button("End", () => confirm("End group " + g.num + "'s discussion now?") && api("POST", path + "/end"), "danger end-group"));
    }
    tr.append(ctl);
    body.append(tr);
  }
}

function quality(q) {
  const bad = (cond, text) => el("td", text, cond ? "bad" : "");
  if (!q) return [el("td"), el("td"), el("td"), el("td")];
  return [
    bad(q.rtt_ms > 200, Math.round(q.rtt_ms)),
    bad(q.fps_recv < 15, Math.round(q.fps_sent) + " / " + Math.round(q.fps_recv)),
    bad(q.packet_loss > 0.05, (100 * q.packet_loss).toFixed(1) + "%"),
    bad(q.audio_delay_ms > 150 || q.video_delay_ms > 150, Math.round(q.audio_delay_ms) + " / " + Math.round(q.video_delay_ms)),
  ];
}

// recordingCells: the consent (given, declined, — not answered) and the
// recording (now or not; segments uploaded of those declared), when the
// session records.
function recordingCells(p) {
  if (!p.recording) return [el("td"), el("td")];
  const r = p.recording;
  return [el("td", p.consent || "—", p.consent === "declined" ? "bad" : ""),
    el("td", (r.recording ? "recording" : "not recording") + ", " + r.uploaded + "/" + r.declared + " uploaded")];
}

function leftCell(p) {
  const c = el("td", p.state === "paused" ? clock(p.time_left_s + (Date.now() - received) / 1000) : clock(p.time_left_s), "time-left");
  if (p.time_left_s !== undefined && p.state !== "paused" && p.state !== "ended") c.dataset.left = p.time_left_s;
  return c;
}

function renderParticipants() {
  const body = $("participants").tBodies[0];
  const ticked = new Set([...body.querySelectorAll("input:checked")].map((i) => i.value));
  body.replaceChildren();
  const now = Date.parse(view.server_time);
  for (const p of view.participants) {
    const tr = el("tr", null, p.connected ? "" : "offline");
    tr.id = "participant-" + p.seat;
    const pick = el("td");
    if (p.can_pair) { // waiting, or left over when their group ended
      const box = el("input");
      box.type = "checkbox";
      box.value = p.seat;
      box.checked = ticked.has(p.seat);
      pick.append(box);
    }
    const st = el("td");
    // The state says what the experimenter must know of the connections
    // too (connecting, left, partner reconnecting); the row is greyed
    // while the kiosk is offline.
    st.append(el("span", p.state.replace(/_/g, " "), "state state-" + p.state));
    const d = p.devices;
    const devices = d ? ["camera " + d.camera, "microphone " + d.microphone, "speaker " + d.speaker].filter((x) => !x.endsWith(" ok")).join(", ") || "ok" : "";
    const seen = p.last_seen ? Math.max(0, Math.round((now - Date.parse(p.last_seen)) / 1000)) + " s ago" : "";
    tr.append(pick, el("td", p.seat), el("td", p.pseudonym), st, el("td", p.group || ""), leftCell(p),
      el("td", devices, devices !== "ok" && devices !== "" ? "bad" : ""), ...quality(p.quality), ...recordingCells(p), el("td", seen));
    const ctl = el("td");
    if (p.state !== "removed") {
      ctl.append(button("Remove", () => confirm("Remove " + p.seat + " (" + p.pseudonym + ")? Their kiosk goes to the end screen.") &&
        api("POST", sessionPath() + "/participants/" + encodeURIComponent(p.seat) + "/remove"), "danger remove"));
    }
    tr.append(ctl);
    body.append(tr);
  }
}

function renderChat() {
  const to = $("post-to");
  const keep = to.value;
  to.replaceChildren();
  const all = el("option", "everyone (announcement)");
  all.value = "experimenter";
  to.append(all);
  for (const g of view.groups) {
    const o = el("option", "group " + g.num + " (" + g.seats.join(", ") + ")");
    o.value = "group:" + g.num;
    to.append(o);
  }
  for (const p of view.participants) {
    const o = el("option", "only " + p.seat + " (" + p.pseudonym + "), privately");
    o.value = "private:" + p.seat;
    to.append(o);
  }
  if ([...to.options].some((o) => o.value === keep)) to.value = keep;
  const names = {};
  for (const g of view.groups) names["group:" + g.id] = "group " + g.num;
  for (const p of view.participants) names["private:" + p.participant_code] = "private · " + p.seat;
  const chat = $("chat");
  const atEnd = chat.scrollTop + chat.clientHeight >= chat.scrollHeight - 4;
  chat.replaceChildren();
  for (const m of view.chat) {
    const row = el("div", null, "msg " + m.sender_role);
    row.append(el("span", new Date(m.time).toLocaleTimeString(), "ch"), el("span", names[m.channel] || m.channel, "ch"),
      el("span", m.nickname || m.sender_role, "who"), el("span", m.body, "body"));
    chat.append(row);
  }
  if (atEnd) chat.scrollTop = chat.scrollHeight;
}

function render() {
  renderSessions();
  renderGroups();
  renderParticipants();
  renderChat();
}

$("session").addEventListener("change", (e) => {
  current = e.target.value;
  localStorage.setItem("parley-session", current);
  history.replaceState(null, "", current ? "?session=" + encodeURIComponent(current) : location.pathname);
  follow();
});
$("more-time-all").addEventListener("click", () => api("POST", sessionPath() + "/groups/all/time", { delta_s: 60 }));
$("less-time-all").addEventListener("click", () => api("POST", sessionPath() + "/groups/all/time", { delta_s: -60 }));
$("start-session").addEventListener("click", () => api("POST", sessionPath() + "/start"));
$("end-session").addEventListener("click", () => confirm("End session " + current + " and every discussion in it?") && api("POST", sessionPath() + "/end"));
$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const s = await api("POST", "/api/sessions", { room: $("create-room").value, settings: { duration_s: 60 * Number($("create-minutes").value), record: $("create-record").value } });
  current = s.code;
  localStorage.setItem("parley-session", current);
  follow();
});
$("pair").addEventListener("click", () => {
  const seats = [...$("participants").querySelectorAll("input:checked")].map((i) => i.value);
  api("POST", sessionPath() + "/pair", { seats });
});
$("post-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = $("post-body").value;
  if (!body.trim()) return;
  await api("POST", sessionPath() + "/channels/" + encodeURIComponent($("post-to").value) + "/messages", { body });
  $("post-body").value = "";
});
// The countdowns tick between pushes (a running clock's cells only: the
// rows stay, so a click on a button is never lost to a redraw).
setInterval(() => {
  for (const c of document.querySelectorAll(".time-left[data-left]")) c.textContent = clock(Number(c.dataset.left));
}, 1000);
follow();
