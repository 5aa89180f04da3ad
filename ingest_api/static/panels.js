// What each panel of the dashboard shows, from the summary API's JSON (docs/dashboard.md).

import { COLORS, funnelChart, placeholder, xyChart } from "./charts.js";

export const fmt = {
  int: (v) => (v == null ? "–" : Math.round(v).toLocaleString("en-US")),
  pct: (v, digits = 1) => (v == null ? "–" : `${(v * 100).toFixed(digits)} %`),
  secs: (v) => (v == null ? "–" : `${Number(v).toFixed(v < 10 ? 2 : 1)} s`),
  duration(s) {
    if (s == null) return "–";
    const total = Math.round(Number(s));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m > 0) return `${m} min ${String(total % 60).padStart(2, "0")} s`;
    return `${total} s`;
  },
  minutes: (v) => (v == null ? "–" : `${Number(v).toFixed(v < 10 ? 1 : 0)} min`),
  day: (iso) => (iso ? iso.slice(5) : ""),
};

const STEP_LABELS = {
  started: "Started",
  progress_25: "25 %",
  progress_50: "50 %",
  progress_75: "75 %",
  progress_90: "90 %",
  completed: "Completed",
};

function kpis(dl, items) {
  dl.replaceChildren();
  for (const [label, value] of items) {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    div.append(dt, dd);
    dl.append(div);
  }
}

/** Every ISO day from `from` to `to` inclusive. */
export function days(from, to) {
  const out = [];
  const d = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  while (d <= end && out.length < 400) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

export function videoKpis(dl, t) {
  kpis(dl, [
    ["Views", fmt.int(t.views)],
    ["Unique viewers", fmt.int(t.unique_viewers)],
    ["Watch time", fmt.duration(t.watch_time_s)],
    ["Avg per view", fmt.duration(t.avg_watch_time_s)],
    ["Completion rate", fmt.pct(t.completion_rate)],
    ["Exits before start", fmt.int(t.exits_before_start)],
  ]);
}

export function retention(host, buckets) {
  if (!buckets.length) return placeholder(host, "No views with a known duration yet.");
  const avg = buckets.reduce((a, b) => a + b.share_of_views, 0) / buckets.length;
  return xyChart(host, {
    title: "Retention curve",
    desc: `Share of views still watching at each percent of the video; average ${fmt.pct(avg)} over ${fmt.int(buckets[0].views)} views.`,
    labels: buckets.map((b) => b.bucket),
    xFormat: (b) => `${b} %`,
    xTicks: 10,
    leftFormat: (v) => `${Math.round(v * 100)} %`,
    leftMax: Math.max(1, ...buckets.map((b) => b.plays_per_view)),
    series: [
      { name: "Share of views", type: "line", values: buckets.map((b) => b.share_of_views), color: COLORS.blue, format: fmt.pct, noDots: true },
      { name: "Plays per view", type: "line", values: buckets.map((b) => b.plays_per_view), color: COLORS.orange, dashed: true, format: (v) => v.toFixed(2), noDots: true },
    ],
  });
}

export function daily(host, doc) {
  if (!doc.rows.length) return placeholder(host, "No views in this range.");
  const labels = days(doc.from, doc.to);
  const byDay = new Map(doc.rows.map((r) => [r.day, r]));
  return xyChart(host, {
    title: "Daily views and watch time",
    desc: `${fmt.int(doc.totals.views)} views and ${fmt.duration(doc.totals.watch_time_s)} watched from ${doc.from} to ${doc.to} (UTC days).`,
    labels,
    xFormat: fmt.day,
    leftFormat: fmt.int,
    rightFormat: (v) => `${v} min`,
    series: [
      { name: "Views", type: "bar", values: labels.map((d) => byDay.get(d)?.views ?? 0), color: COLORS.blue, format: fmt.int },
      { name: "Watch time (min)", type: "line", axis: "right", values: labels.map((d) => (byDay.get(d)?.watch_time_s ?? 0) / 60), color: COLORS.orange, format: (m) => fmt.duration(m * 60) },
    ],
  });
}

export function funnel(host, steps) {
  if (!steps.length || !steps[0].cycles) return placeholder(host, "No viewings started in this range.");
  return funnelChart(host, {
    title: "Completion funnel",
    desc: steps.map((s) => `${STEP_LABELS[s.step] || s.step}: ${s.cycles}`).join(", "),
    steps: steps.map((s) => ({ label: STEP_LABELS[s.step] || s.step, value: s.cycles })),
    format: fmt.int,
  });
}

export function qoe(dl, host, doc) {
  const t = doc.totals;
  kpis(dl, [
    ["Startup p50", fmt.secs(t.startup_time_p50_s)],
    ["Startup p95", fmt.secs(t.startup_time_p95_s)],
    ["Rebuffer ratio", fmt.pct(t.rebuffer_ratio, 2)],
    ["Errors", fmt.int(t.errors)],
  ]);
  if (!doc.rows.length) return placeholder(host, "No views in this range.");
  const labels = days(doc.from, doc.to);
  const byDay = new Map(doc.rows.map((r) => [r.day, r]));
  const pick = (k) => labels.map((d) => byDay.get(d)?.[k] ?? null);
  return xyChart(host, {
    title: "Startup time and rebuffering per day",
    desc: `Startup time p50 ${fmt.secs(t.startup_time_p50_s)}, p95 ${fmt.secs(t.startup_time_p95_s)}; rebuffer ratio ${fmt.pct(t.rebuffer_ratio, 2)} over the range.`,
    labels,
    xFormat: fmt.day,
    leftFormat: (v) => `${v} s`,
    rightFormat: (v) => `${(v * 100).toFixed(1)} %`,
    series: [
      { name: "Startup p50 (s)", type: "line", values: pick("startup_time_p50_s"), color: COLORS.green, format: fmt.secs },
      { name: "Startup p95 (s)", type: "line", values: pick("startup_time_p95_s"), color: COLORS.purple, format: fmt.secs },
      { name: "Rebuffer ratio", type: "line", axis: "right", dashed: true, values: pick("rebuffer_ratio"), color: COLORS.red, format: (v) => fmt.pct(v, 2) },
    ],
  });
}

export function creatorKpis(dl, dash) {
  if (!dash) return dl.replaceChildren();
  const t = dash.totals;
  const students = dash.courses.reduce((a, c) => a + c.students, 0);
  kpis(dl, [
    ["Videos viewed", fmt.int(t.videos_viewed)],
    ["Views", fmt.int(t.views)],
    ["Unique viewers", fmt.int(t.unique_viewers)],
    ["Watch time", fmt.duration(t.watch_time_s)],
    ["Completion rate", fmt.pct(t.completion_rate)],
    ["Course students", fmt.int(students)],
  ]);
}

/** Top videos as a table with a bar per row; clicking a title selects that video. */
export function topVideos(host, videos, selected, onPick) {
  if (!videos.length) return placeholder(host, "No views in this range.");
  const max = Math.max(...videos.map((v) => v.views));
  const table = document.createElement("table");
  table.className = "ranking";
  table.dataset.points = String(videos.length);
  table.innerHTML =
    "<caption class='sr'>Most viewed videos in the range</caption><thead><tr><th scope='col'>#</th>" +
    "<th scope='col'>Video</th><th scope='col'>Creator</th><th scope='col' class='num'>Views</th>" +
    "<th scope='col'>Share</th><th scope='col' class='num'>Watch time</th>" +
    "<th scope='col' class='num'>Completion</th></tr></thead>";
  const body = document.createElement("tbody");
  videos.forEach((v, i) => {
    const tr = document.createElement("tr");
    if (v.video_id === selected) tr.className = "selected";
    const cell = (text, cls) => {
      const td = document.createElement("td");
      if (cls) td.className = cls;
      td.textContent = text;
      tr.append(td);
      return td;
    };
    cell(String(i + 1), "num");
    const name = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = v.title || v.video_id;
    button.title = `Show ${v.video_id}`;
    button.addEventListener("click", () => onPick(v.video_id));
    name.append(button);
    tr.append(name);
    cell(v.creator_id || "–");
    cell(fmt.int(v.views), "num");
    const meterCell = document.createElement("td");
    const meter = document.createElement("span");
    meter.className = "meter";
    meter.style.width = `${Math.max(2, (v.views / max) * 100)}%`;
    meterCell.append(meter);
    tr.append(meterCell);
    cell(fmt.duration(v.watch_time_s), "num");
    cell(fmt.pct(v.completion_rate, 0), "num");
    body.append(tr);
  });
  table.append(body);
  host.replaceChildren(table);
  return videos.length;
}

export function userKpis(dl, dash) {
  const a = dash.all_time;
  const today = dash.last_7_days.at(-1);
  const goal = today?.goal_minutes ?? dash.last_7_days.find((d) => d.goal_minutes != null)?.goal_minutes;
  kpis(dl, [
    ["Current streak", a ? `${a.current_streak_days} days` : "–"],
    ["Longest streak", a ? `${a.longest_streak_days} days` : "–"],
    ["Today", `${fmt.minutes(today?.watch_time_min)}${goal != null ? ` of ${goal}` : ""}`],
    ["All-time watch", a ? fmt.duration(a.watch_time_min * 60) : "–"],
    ["Videos completed", a ? fmt.int(a.videos_completed) : "–"],
    ["Favourite channel", a?.favorite_channels?.[0] ?? "–"],
  ]);
}

export function week(host, dash) {
  const rows = dash.last_7_days;
  if (!dash.all_time || !rows.some((r) => r.watch_time_min > 0)) {
    return placeholder(host, "No watching in the last 7 days.");
  }
  const goal = rows.find((r) => r.goal_minutes != null)?.goal_minutes;
  const series = [
    { name: "Watch time (min)", type: "bar", values: rows.map((r) => r.watch_time_min), color: COLORS.blue, format: fmt.minutes },
  ];
  if (goal != null) {
    series.push({ name: "Daily goal", type: "line", dashed: true, noDots: true, values: rows.map(() => goal), color: COLORS.red, format: fmt.minutes });
  }
  return xyChart(host, {
    title: "Watch time in the last 7 local days",
    width: 440,
    height: 220,
    desc: rows.map((r) => `${r.day}: ${fmt.minutes(r.watch_time_min)}${r.goal_met ? " (goal met)" : ""}`).join(", "),
    labels: rows.map((r) => r.day),
    xFormat: fmt.day,
    leftFormat: (v) => `${v}`,
    series,
  });
}

function list(host, items, empty, render) {
  if (!items.length) return placeholder(host, empty);
  const ol = document.createElement("ol");
  ol.className = "items";
  ol.dataset.points = String(items.length);
  for (const item of items) {
    const li = document.createElement("li");
    render(li, item);
    ol.append(li);
  }
  host.replaceChildren(ol);
  return items.length;
}

export function continueWatching(host, doc, titles) {
  return list(host, doc.items, "Nothing to resume.", (li, item) => {
    const name = document.createElement("span");
    name.className = "title";
    name.textContent = titles.get(item.video_id) || item.video_id;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = item.progress;
    bar.setAttribute("aria-label", `${name.textContent}: ${fmt.pct(item.progress, 0)} watched`);
    const meta = document.createElement("span");
    meta.className = "help";
    meta.textContent = `${fmt.duration(item.position_s)} of ${fmt.duration(item.duration_s)} · ${fmt.pct(item.progress, 0)}`;
    li.append(name, bar, meta);
  });
}

export function nextUp(host, doc, titles) {
  return list(host, doc.items, "Nothing queued.", (li, item) => {
    const name = document.createElement("span");
    name.className = "title";
    name.textContent = titles.get(item.video_id) || item.video_id;
    const why = document.createElement("span");
    why.className = `tag ${item.reason}`;
    why.textContent = item.reason.replaceAll("_", " ");
    const meta = document.createElement("span");
    meta.className = "help";
    meta.textContent = item.series_id ? `series ${item.series_id}` : item.queue_id ? `queue ${item.queue_id}` : "";
    li.append(name, why, meta);
  });
}
