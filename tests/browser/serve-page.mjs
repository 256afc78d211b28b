// serve-page.mjs: what a person sees on cpb serve's page, in Debian's headless Chromium
// driven by playwright-core (no browser download: executablePath is /usr/bin/chromium).
// tests/browser/serve-page.bats starts the Podman service, a run and the server, then runs
//
//   node serve-page.mjs   with SERVE_URL (the printed address), BATCH ("ns/farm", a run of
//                         tests/integration/data/serve/farm.yaml going), TASKS (its count),
//                         ARTIFACTS (where the screenshots go)
//
// Each check prints a TAP line; the first failure ends the script with exit 1.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const { SERVE_URL, BATCH, ARTIFACTS } = process.env;
const TASKS = Number(process.env.TASKS || 8);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// The flags the machine notes list as known to work here: no sandbox as root, and no
// background networking, whose connections this machine's closed network refuses.
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let n = 0;
function ok(what) { console.log(`ok ${++n} - ${what}`); }

async function shot(page, name) {
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

async function count(page, state) {
  const t = await page.textContent(`[data-batch="${BATCH}"] .count[data-state="${state}"] b`);
  return Number(t);
}

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(ARTIFACTS, "profile-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 },
  });
  const errors = [];
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("dialog", (d) => d.accept());

    // The printed address logs in: the token is traded for the cookie and leaves the URL.
    await page.goto(SERVE_URL);
    if (page.url().includes("token=")) throw new Error("the token stayed in the address: " + page.url());
    await page.waitForSelector(`[data-batch="${BATCH}"]`, { timeout: 30000 });
    ok("the page shows the batch " + BATCH);
    await page.waitForSelector("#live.on", { timeout: 15000 });
    ok("live updates are connected");
    const node = await page.textContent("#nodes tbody tr[data-node] td");
    if (!node.startsWith("local")) throw new Error("nodes table: " + node);
    ok("the local node is listed with its load");

    // The counts of the batch add up to its tasks.
    let total = 0;
    for (const s of ["DONE", "RUNNING", "QUEUED", "HELD", "FAILED", "CANCELLED"]) total += await count(page, s);
    if (total !== TASKS) throw new Error(`counts add up to ${total}, not ${TASKS}`);
    ok(`the counts add up to the batch's ${TASKS} tasks`);
    await shot(page, "01-overview.png");

    // A count changes while tasks finish, without a reload.
    await page.evaluate(() => { window.__cpbNotReloaded = true; });
    const done0 = await count(page, "DONE");
    await page.waitForFunction(([b, d0]) => {
      const e = document.querySelector(`[data-batch="${b}"] .count[data-state="DONE"] b`);
      return e && Number(e.textContent) > d0;
    }, [BATCH, done0], { timeout: 120000 });
    if (!(await page.evaluate(() => window.__cpbNotReloaded === true))) throw new Error("the page reloaded");
    ok(`the done count went up from ${done0} without a reload`);

    // The batch's tasks, with state, node, exit, time, CPU and memory.
    await page.click(`[data-batch="${BATCH}"]`);
    await page.waitForSelector("#batch:not([hidden]) #tasks tbody tr[data-task]");
    const rows = await page.$$eval("#tasks tbody tr[data-task]", (r) => r.length);
    if (rows !== TASKS) throw new Error(`the task table has ${rows} rows`);
    const doneRow = await page.waitForSelector('#tasks tbody tr[data-state="DONE"]');
    const cells = await doneRow.$$eval("td", (t) => t.map((c) => c.textContent));
    if (cells[2] !== "local" || cells[3] !== "0" || !/s$/.test(cells[5]) || !/iB$/.test(cells[6]))
      throw new Error("a done task's row: " + cells.join(" | "));
    ok("a finished task shows its node, exit 0, CPU time and peak memory");
    await page.waitForSelector("#plot path.curve");
    ok("the plot of tasks finished over time is drawn");

    // Hold a queued task with its button: the row says HELD.
    // The last queued task: the run (one at a time) reaches it last.
    const queued = (await page.$$('#tasks tbody tr[data-state="QUEUED"]')).pop();
    if (queued) {
      const name = await queued.getAttribute("data-task");
      await queued.$eval('button[data-action="hold"]', (b) => b.click());
      await page.waitForSelector(`#tasks tbody tr[data-task="${name}"][data-state="HELD"]`, { timeout: 30000 });
      ok(`the Hold button holds ${name}`);
      await page.click(`#batch-release`);
      await page.waitForSelector(`#tasks tbody tr[data-task="${name}"][data-state="QUEUED"], #tasks tbody tr[data-task="${name}"][data-state="RUNNING"], #tasks tbody tr[data-task="${name}"][data-state="DONE"]`, { timeout: 30000 });
      ok(`Release held lets ${name} go again`);
    } else {
      ok("# SKIP no task was still queued to hold");
      ok("# SKIP nothing to release");
    }
    await shot(page, "02-batch.png");

    // A running task's log, followed live, then a finished one's.
    const running = await page.waitForSelector('#tasks tbody tr[data-state="RUNNING"] a.task', { timeout: 60000 });
    const rname = (await running.textContent()).trim();
    await running.click();
    await page.waitForSelector("#log:not([hidden])");
    const i = rname.replace(/^t-/, "");
    await page.waitForFunction((want) => document.querySelector("#log-out").textContent.includes(want),
      `out ${i}`, { timeout: 60000 });
    await page.waitForFunction((want) => document.querySelector("#log-out").textContent.includes(want),
      `err ${i}`, { timeout: 30000 });
    const logText = await page.textContent("#log-out");
    if (logText.includes("cpb-helper-report")) throw new Error("the helper's report is in the log");
    ok(`the log of ${rname}, followed while it ran, shows its stdout and stderr`);
    await page.waitForFunction(() => /ended/.test(document.querySelector("#log-state").textContent), null, { timeout: 60000 });
    ok(`the log says when ${rname} ended`);
    await shot(page, "03-log.png");

    // Every task finishes; the page follows to the end.
    await page.waitForFunction(([b, t]) => {
      const e = document.querySelector(`[data-batch="${b}"] .count[data-state="DONE"] b`);
      return e && Number(e.textContent) === t;
    }, [BATCH, TASKS], { timeout: 180000 });
    ok(`all ${TASKS} tasks show as done`);
    await shot(page, "04-done.png");
    if (errors.length) throw new Error("the page logged errors: " + errors.join("; "));
    ok("no script error and no refused request on the page");
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(() => console.log(`1..${n}`), (e) => {
  console.log(`not ok ${++n} - ${e.message.split("\n")[0]}`);
  console.log(`1..${n}`);
  process.exit(1);
});
