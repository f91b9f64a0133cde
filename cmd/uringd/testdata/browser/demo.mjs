// Drives uringd's demo site in headless Chromium and prints what it saw
// as one JSON document on stdout; cmd/uringd/browser_test.go starts
// uringd, runs this script and judges the result (assertions live in
// Go, next to the other end-to-end tests).
//
//   node demo.mjs BASE_URL USER_DATA_DIR
//
// CHROMIUM names the browser binary (default /usr/bin/chromium).
// Every step has a timeout; a step that fails is reported in "errors"
// and the script goes on with the next page.

import http from "node:http";
import { chromium } from "playwright-core";

const [base, userDataDir] = process.argv.slice(2);
if (!base || !userDataDir) {
	console.error("usage: node demo.mjs BASE_URL USER_DATA_DIR");
	process.exit(2);
}
const STEP_MS = 45_000;
const out = { errors: [] };

// get fetches url on a connection of its own (so the server's accepted
// connection count grows) and drains the answer.
function get(url) {
	return new Promise((resolve, reject) => {
		const req = http.get(url, { agent: false }, (res) => {
			res.resume();
			res.on("end", () => resolve(res.statusCode));
		});
		req.on("error", reject);
	});
}

async function step(name, fn) {
	try {
		out[name] = await fn();
	} catch (e) {
		out.errors.push(name + ": " + (e && e.stack ? e.stack : String(e)));
	}
}

const context = await chromium.launchPersistentContext(userDataDir, {
	executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
	headless: true,
	timeout: STEP_MS,
	args: [
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
	],
});
context.setDefaultTimeout(STEP_MS);
const page = context.pages()[0] || (await context.newPage());
const responses = [];
page.on("response", (r) => {
	const req = r.request();
	responses.push({ url: r.url(), status: r.status(), range: req.headers()["range"] || "" });
});
const consoleErrors = [];
page.on("console", (m) => {
	if (m.type() === "error") consoleErrors.push(m.text());
});
page.on("pageerror", (e) => consoleErrors.push(String(e)));

await step("index", async () => {
	const res = await page.goto(base + "/", { waitUntil: "load" });
	return {
		status: res.status(),
		title: await page.title(),
		heading: await page.textContent("h1"),
		links: await page.$$eval("a", (as) => as.map((a) => a.getAttribute("href"))),
	};
});

await step("video", async () => {
	const res = await page.goto(base + "/video.html", { waitUntil: "load" });
	// Muted, so that autoplay policies allow play() without a gesture.
	const played = await page.evaluate(async () => {
		const v = document.getElementById("clip");
		v.muted = true;
		try {
			await v.play();
			return "playing";
		} catch (e) {
			return String(e);
		}
	});
	await page.waitForFunction(() => document.getElementById("clip").currentTime > 2.5, null, { timeout: STEP_MS });
	const state = await page.evaluate(() => {
		const v = document.getElementById("clip");
		return {
			currentTime: v.currentTime,
			duration: v.duration,
			paused: v.paused,
			error: v.error ? v.error.code + " " + v.error.message : null,
			readyState: v.readyState,
			position: document.getElementById("position").textContent,
			buffered: document.getElementById("buffered").textContent,
		};
	});
	return { status: res.status(), played, ...state };
});

// readStatus reads the elements status.js fills.
const readStatus = () =>
	page.evaluate(() => {
		const text = (id) => document.getElementById(id).textContent;
		const rows = [...document.querySelectorAll("#loops tbody tr")].map((tr) =>
			[...tr.querySelectorAll("td")].map((td) => td.textContent),
		);
		const canvases = {};
		for (const c of document.querySelectorAll("canvas")) canvases[c.id] = Number(c.dataset.points || 0);
		return {
			status: text("status"),
			statusClass: document.getElementById("status").className,
			uptime: text("uptime"),
			conns: text("conns"),
			accepted: text("accepted"),
			server: text("server"),
			samples: Number(text("samples")),
			rows,
			canvases,
		};
	});

await step("status", async () => {
	const res = await page.goto(base + "/status.html", { waitUntil: "load" });
	// Two polls make the first sample (a rate needs two snapshots).
	await page.waitForFunction(() => Number(document.getElementById("samples").textContent) >= 1);
	const first = await readStatus();
	// Record the per-loop table at every new sample from now on.
	await page.evaluate(() => {
		window.__rows = [];
		new MutationObserver(() => {
			const rows = [...document.querySelectorAll("#loops tbody tr")].map((tr) =>
				[...tr.querySelectorAll("td")].map((td) => td.textContent),
			);
			window.__rows.push(rows);
		}).observe(document.getElementById("samples"), { childList: true, characterData: true, subtree: true });
	});
	// A little traffic on connections of their own, then at least two
	// more polls.
	for (let i = 0; i < 25; i++) {
		await get(base + "/index.html");
		await get(base + "/style.css");
	}
	await page.waitForFunction((n) => Number(document.getElementById("samples").textContent) >= n + 2, first.samples);
	const second = await readStatus();
	const history = await page.evaluate(() => window.__rows);
	return { status: res.status(), first, second, history };
});

out.responses = responses;
out.consoleErrors = consoleErrors;
await context.close();
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
