// The dashboard's controller: the read token, the pickers, and a refresh every 5 s that asks
// the summary API for what the token may see and hands each answer to its panel.

import * as panels from "./panels.js";
import { placeholder } from "./charts.js";

const TOKEN_KEY = "watchflow.readToken";
const REFRESH_MS = 5000;
const PICKS = ["creator", "video", "user", "from", "to"];
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const state = {
  token: "",
  scope: null, // {kind, subject} from /v1/me
  creator: "",
  video: "",
  user: "",
  from: "",
  to: "",
  busy: false,
  again: false,
  titles: new Map(),
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value != null) url.searchParams.set(key, String(value));
  }
  const resp = await fetch(url, {
    headers: { Authorization: `Bearer ${state.token}` },
    cache: "no-store",
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, body.error || `${resp.status} ${resp.statusText}`);
  return body;
}

function status(message) {
  $("status").textContent = message;
  $("status").classList.toggle("error", Boolean(message));
}

function readUrl() {
  const query = new URLSearchParams(window.location.search);
  const token = query.get("token");
  if (token) localStorage.setItem(TOKEN_KEY, token);
  for (const key of PICKS) state[key] = query.get(key) || "";
  writeUrl(); // drops ?token= from the address bar and history
  state.token = localStorage.getItem(TOKEN_KEY) || "";
}

function writeUrl() {
  const query = new URLSearchParams();
  for (const key of PICKS) if (state[key]) query.set(key, state[key]);
  const search = query.toString();
  window.history.replaceState(null, "", `${window.location.pathname}${search ? `?${search}` : ""}`);
}

/** Fill a <select> with [value, label] pairs, rebuilding only when the list changed. */
function options(select, pairs, value) {
  const all = value && !pairs.some(([v]) => v === value) ? [...pairs, [value, value]] : pairs;
  const key = JSON.stringify(all);
  if (select.dataset.key !== key) {
    select.replaceChildren(
      ...all.map(([v, label]) => {
        const option = document.createElement("option");
        option.value = v;
        option.textContent = label;
        return option;
      }),
    );
    select.dataset.key = key;
  }
  select.value = value;
}

function range() {
  return { from: state.from, to: state.to };
}

function failed(host, error) {
  const p = document.createElement("p");
  p.className = "error";
  p.textContent = error.message;
  host.replaceChildren(p);
}

async function refreshVideos() {
  const kind = state.scope.kind;
  const show = kind !== "user";
  $("videos").hidden = !show;
  $("top").hidden = !show;
  $("video").disabled = !show;
  $("creator").disabled = kind !== "analyst";
  if (!show) return;

  const top = kind === "analyst" ? await api("/v1/videos/top", { ...range(), limit: 50 }) : null;
  const creator = state.creator
    ? await api(`/v1/creators/${enc(state.creator)}/dashboard`, { ...range(), top: 20 })
    : null;
  const list = creator
    ? creator.top_videos.map((v) => ({ ...v, creator_id: state.creator }))
    : top.videos.slice(0, 20);
  for (const v of [...(top?.videos || []), ...list]) state.titles.set(v.video_id, v.title || v.video_id);

  const creators = [...new Set((top?.videos || []).map((v) => v.creator_id).filter(Boolean))].sort();
  options(
    $("creator"),
    kind === "analyst" ? [["", "All creators"], ...creators.map((c) => [c, c])] : [[state.creator, state.creator]],
    state.creator,
  );
  if (!state.video && list.length) {
    state.video = list[0].video_id;
    writeUrl();
  }
  options($("video"), list.map((v) => [v.video_id, v.title || v.video_id]), state.video);

  $("top-scope").textContent = creator ? `· creator ${state.creator}` : "· all creators";
  panels.creatorKpis($("creator-kpis"), creator);
  panels.topVideos($("top-videos"), list, state.video, pickVideo);

  $("video-name").textContent = state.video ? `· ${state.titles.get(state.video) || state.video}` : "";
  if (!state.video) {
    for (const id of ["retention", "daily", "funnel", "qoe"]) placeholder($(id), "Pick a video.");
    return;
  }
  const [doc, curve] = await Promise.all([
    api(`/v1/videos/${enc(state.video)}/analytics`, range()),
    api(`/v1/videos/${enc(state.video)}/retention`),
  ]);
  $("range").textContent = `${doc.from} to ${doc.to} (UTC days; retention is all time)`;
  if (!state.from && !state.to) {
    // Show the default range the API chose; editing either field then fixes both.
    $("from").value = doc.from;
    $("to").value = doc.to;
  }
  panels.videoKpis($("video-kpis"), doc.totals);
  panels.retention($("retention"), curve.buckets);
  panels.daily($("daily"), doc);
  panels.funnel($("funnel"), doc.funnel);
  panels.qoe($("qoe-kpis"), $("qoe"), doc);
}

async function refreshViewer() {
  const kind = state.scope.kind;
  $("viewer").hidden = kind === "creator";
  $("user").disabled = kind !== "analyst";
  if (kind === "creator") return;

  const users =
    kind === "analyst"
      ? (await api("/v1/users", { ...range(), limit: 50 })).users.map((u) => u.user_id)
      : [state.scope.subject];
  if (kind === "user") state.user = state.scope.subject;
  if (!state.user && users.length) {
    state.user = users[0];
    writeUrl();
  }
  options($("user"), users.map((u) => [u, u]), state.user);
  $("user-name").textContent = state.user ? `· ${state.user}` : "";
  if (!state.user) {
    for (const id of ["week", "continue", "next-up"]) placeholder($(id), "Pick a viewer.");
    return;
  }
  const user = `/v1/users/${enc(state.user)}`;
  const [dash, resume, next] = await Promise.allSettled([
    api(`${user}/analytics/dashboard`),
    api(`${user}/continue-watching`, { limit: 8 }),
    api(`${user}/next-up`, { limit: 8 }),
  ]);
  if (dash.status === "fulfilled") {
    panels.userKpis($("user-kpis"), dash.value);
    panels.week($("week"), dash.value);
  } else {
    failed($("week"), dash.reason);
  }
  if (resume.status === "fulfilled") panels.continueWatching($("continue"), resume.value, state.titles);
  else failed($("continue"), resume.reason);
  if (next.status === "fulfilled") panels.nextUp($("next-up"), next.value, state.titles);
  else failed($("next-up"), next.reason);
}

async function refresh() {
  if (!state.scope) return;
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  try {
    const results = await Promise.allSettled([refreshVideos(), refreshViewer()]);
    const errors = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
    status(errors.join(" · "));
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } finally {
    state.busy = false;
  }
  if (state.again) {
    state.again = false;
    await refresh();
  }
}

function pickVideo(videoId) {
  state.video = videoId;
  writeUrl();
  refresh();
}

async function connect() {
  state.scope = null;
  $("token").value = state.token;
  if (!state.token) {
    $("who").textContent = "Enter a read token to see analytics.";
    $("main").hidden = true;
    return;
  }
  try {
    state.scope = await api("/v1/me");
  } catch (error) {
    $("who").textContent = error.status === 401 ? "That read token is not known." : error.message;
    $("main").hidden = true;
    return;
  }
  const { kind, subject } = state.scope;
  $("who").textContent = {
    analyst: "Analyst token: every video and viewer.",
    creator: `Creator token: the videos of ${subject}.`,
    user: `Viewer token: ${subject}'s own watching.`,
  }[kind];
  if (kind === "creator") state.creator = subject;
  $("main").hidden = false;
  await refresh();
}

function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    localStorage.setItem(TOKEN_KEY, state.token);
    connect();
  });
  $("forget").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    state.token = "";
    connect();
  });
  for (const key of PICKS) {
    $(key).addEventListener("change", () => {
      state[key] = $(key).value;
      if (key === "from" || key === "to") {
        state.from = $("from").value;
        state.to = $("to").value;
      }
      if (key === "creator") state.video = "";
      writeUrl();
      refresh();
    });
  }
  window.setInterval(() => {
    if ($("auto").checked && !document.hidden) refresh();
  }, REFRESH_MS);
}

readUrl();
$("from").value = state.from;
$("to").value = state.to;
wire();
connect();
