/**
 * The per-question viewer's page script and style, inlined into the one file it writes (allowed by
 * their hashes in the page's Content-Security-Policy). Kept as strings so the built dist/ needs no
 * asset files. The script reads the data block as JSON and builds every element with DOM calls and
 * textContent: no text from a report is ever parsed as HTML.
 */

export const VIEWER_CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1rem auto; max-width: 1300px; padding: 0 1rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.4rem; }
#controls { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: end; margin-bottom: 0.8rem; }
#controls label { display: flex; flex-direction: column; font-size: 0.8rem; color: #444; }
#controls select, #controls input { font-size: 0.95rem; padding: 0.15rem 0.3rem; }
#search { width: 18rem; }
#count, #flips { margin: 0.3rem 0; font-size: 0.95rem; }
details.q { border-bottom: 1px solid #ddd; }
details.q > summary { cursor: pointer; padding: 0.3rem 0; display: flex; gap: 0.8rem; flex-wrap: wrap; font-variant-numeric: tabular-nums; }
summary .id { font-family: ui-monospace, monospace; min-width: 7rem; }
summary .rel { color: #444; min-width: 8rem; } summary .lvl { color: #666; min-width: 4rem; }
.verdict { padding: 0 0.4rem; border-radius: 3px; }
.verdict.right { background: #e3f4e3; } .verdict.wrong { background: #fbe3e0; }
.verdict.unreadable { background: #fff1cc; } .verdict.error, .verdict.none { background: #eee; color: #555; }
.detail { padding: 0.3rem 0 0.8rem 1.2rem; }
.detail section { margin: 0.5rem 0; min-width: 0; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0 1.5rem; }
.detail h3 { font-size: 1rem; margin: 0.6rem 0 0.2rem; } .detail h4 { font-size: 0.9rem; margin: 0.4rem 0 0.1rem; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f6f6; padding: 0.4rem; margin: 0.2rem 0; max-height: 30rem; overflow: auto; }
table.readings { border-collapse: collapse; } table.readings td, table.readings th { padding: 0.1rem 0.6rem; border-bottom: 1px solid #eee; text-align: left; }
.muted { color: #666; } .error { color: #8a1f00; }
`;

export const VIEWER_SCRIPT = String.raw`
"use strict";
const data = JSON.parse(document.getElementById("viewer-data").textContent);
const PAGE = 200;
const $ = (id) => document.getElementById(id);
const TEXT = { right: "right", wrong: "wrong", unreadable: "unreadable", error: "API error", none: "not in run", na: "n/a" };
let matched = [];
let shown = 0;
let hay = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function fill(select, options) {
  for (const [value, label] of options) {
    const option = el("option", "", label);
    option.value = value;
    select.append(option);
  }
}

function setup() {
  const runs = data.runs.map((run, i) => [String(i), run.name + " — " + run.model + " (" + run.mode + ")"]);
  fill($("run-a"), runs);
  fill($("run-b"), [["", "(none)"], ...runs]);
  if (data.runs.length > 1) $("run-b").value = "1";
  fill($("parse"), data.parses.map((p) => [p, p]));
  fill($("task"), [["", "all"], ...data.tasks.map((t) => [t, t])]);
  fill($("relation"), [["", "all"], ...data.relations.map((r) => [r, r])]);
  fill($("level"), [["", "all"], ...data.levels.map((l) => [l, l])]);
  const missing = data.runs.filter((run) => !run.samples).map((run) => run.name);
  if (missing.length > 0) $("notes").textContent = "No samples.jsonl (outcomes only, no prompts or answers): " + missing.join(", ");
  for (const id of ["run-a", "run-b", "parse", "task", "relation", "level", "outcome", "flip"]) $(id).addEventListener("change", update);
  let timer = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 120);
  });
  $("more").addEventListener("click", more);
  update();
}

function state() {
  const s = {};
  for (const id of ["parse", "task", "relation", "level", "outcome", "flip"]) s[id] = $(id).value;
  s.a = $("run-a").value;
  s.b = $("run-b").value;
  s.search = $("search").value.trim().toLowerCase();
  return s;
}

function outcome(q, run, parse) {
  if (run === "") return "none";
  const answer = q.answers[Number(run)];
  if (!answer) return "none";
  return answer.outcomes[parse] || "na";
}

function flip(q, s) {
  const a = outcome(q, s.a, s.parse);
  const b = outcome(q, s.b, s.parse);
  const scored = (o) => o === "right" || o === "wrong" || o === "unreadable";
  if (!scored(a) || !scored(b)) return "";
  if (a === "right" && b !== "right") return "lost";
  if (a !== "right" && b === "right") return "gained";
  return "";
}

function haystack(i) {
  if (hay === null) hay = new Array(data.questions.length);
  if (hay[i] === undefined) {
    const q = data.questions[i];
    const parts = [q.task, q.id, q.relation || ""];
    for (const answer of q.answers) {
      if (!answer) continue;
      if (answer.prompt !== null) parts.push(data.texts[answer.prompt]);
      parts.push(...answer.responses);
    }
    hay[i] = parts.join("\n").toLowerCase();
  }
  return hay[i];
}

function matches(q, i, s) {
  if (s.task && q.task !== s.task) return false;
  if (s.relation && q.relation !== s.relation) return false;
  if (s.level && q.level !== s.level) return false;
  if (s.outcome && outcome(q, s.a, s.parse) !== s.outcome) return false;
  if (s.flip && s.b !== "") {
    const f = flip(q, s);
    if (s.flip === "any" ? f === "" : f !== s.flip) return false;
  }
  return !s.search || haystack(i).includes(s.search);
}

function update() {
  const s = state();
  $("flip").disabled = s.b === "";
  matched = [];
  let lost = 0;
  let gained = 0;
  data.questions.forEach((q, i) => {
    if (matches(q, i, s)) matched.push(i);
    if (s.b === "") return;
    const f = flip(q, s);
    if (f === "lost") lost++;
    if (f === "gained") gained++;
  });
  $("count").textContent = matched.length + " of " + data.questions.length + " questions";
  $("flips").textContent =
    s.b === "" ? "" : "Flips from A to B (" + s.parse + ", all questions): " + lost + " right → wrong, " + gained + " wrong → right";
  $("ids").textContent = matched.map((i) => data.questions[i].task + "/" + data.questions[i].id).join("\n");
  $("list").replaceChildren();
  shown = 0;
  more();
}

function more() {
  const s = state();
  const end = Math.min(matched.length, shown + PAGE);
  const fragment = document.createDocumentFragment();
  for (; shown < end; shown++) fragment.append(row(data.questions[matched[shown]], s));
  $("list").append(fragment);
  $("more").hidden = shown >= matched.length;
  $("more").textContent = "Show " + Math.min(PAGE, matched.length - shown) + " more";
}

function verdict(q, run, parse, side) {
  const answer = run === "" ? null : q.answers[Number(run)];
  const o = outcome(q, run, parse);
  const reading = answer && parse in answer.readings ? (answer.readings[parse] === null ? "∅" : answer.readings[parse]) + " " : "";
  const span = el("span", "verdict " + o + " side-" + side, side.toUpperCase() + ": " + reading + TEXT[o]);
  span.dataset.outcome = o;
  return span;
}

function row(q, s) {
  const details = el("details", "q");
  details.dataset.id = q.id;
  details.dataset.task = q.task;
  const summary = el("summary");
  summary.append(el("span", "id", q.id), el("span", "task", q.task), el("span", "rel", q.relation || "—"));
  summary.append(el("span", "lvl", q.level || "—"), el("span", "gold", "gold " + (q.gold || "?")), verdict(q, s.a, s.parse, "a"));
  if (s.b !== "") summary.append(verdict(q, s.b, s.parse, "b"));
  if (s.b !== "" && flip(q, s)) summary.append(el("span", "flip", flip(q, s) === "lost" ? "right → wrong" : "wrong → right"));
  details.append(summary);
  details.addEventListener("toggle", () => {
    if (details.open && details.childElementCount === 1) details.append(detail(q));
  });
  return details;
}

function readings(answer) {
  const table = el("table", "readings");
  const head = el("tr");
  head.append(el("th", "", "parse"), el("th", "", "reading"), el("th", "", "outcome"));
  table.append(head);
  for (const parse of data.parses) {
    if (!(parse in answer.outcomes)) continue;
    const tr = el("tr");
    const reading = parse in answer.readings ? (answer.readings[parse] === null ? "(no letter)" : answer.readings[parse]) : "—";
    tr.append(el("td", "", parse), el("td", "", reading), el("td", "", TEXT[answer.outcomes[parse]]));
    table.append(tr);
  }
  return table;
}

function runSection(q, run, r) {
  const section = el("section", "run");
  section.append(el("h3", "", run.name + " — " + run.model));
  const answer = q.answers[r];
  if (!answer) {
    section.append(el("p", "muted", "not in this run"));
    return section;
  }
  if (answer.error !== undefined) section.append(el("p", "error", "API error: " + answer.error));
  section.append(readings(answer));
  if (answer.probs) {
    const probs = Object.entries(answer.probs).map(([letter, p]) => letter + " " + Number(p).toFixed(3));
    section.append(el("p", "probs", "letter probabilities: " + probs.join(", ")));
  }
  answer.responses.forEach((text, k) => {
    section.append(el("h4", "", answer.responses.length > 1 ? "answer " + (k + 1) : "answer"), el("pre", "response", text));
  });
  if (answer.prompt !== null) {
    const prompt = el("details", "prompt");
    prompt.append(el("summary", "", "prompt"), el("pre", "", data.texts[answer.prompt]));
    section.append(prompt);
  }
  return section;
}

function detail(q) {
  const s = state();
  const box = el("div", "detail");
  if (q.letters) box.append(el("p", "", "options " + q.letters.join(" ") + "; gold " + (q.gold || "?")));
  // Runs A and B side by side, the others below them.
  const chosen = [s.a, s.b].filter((run, k) => run !== "" && (k === 0 || run !== s.a)).map(Number);
  const pair = el("div", chosen.length === 2 ? "pair" : "");
  for (const r of chosen) pair.append(runSection(q, data.runs[r], r));
  box.append(pair);
  data.runs.forEach((run, r) => {
    if (!chosen.includes(r)) box.append(runSection(q, run, r));
  });
  return box;
}

setup();
`;
