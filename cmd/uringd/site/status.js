// The live status page: polls the stats endpoint once a second and draws
// per-loop rates, loop lag and the offload queue depth as line charts.
// Hand-written on <canvas>: the site must work offline, with no library.
// The JSON schema is cmd/uringd/internal/stats/schema.go.
"use strict";

(function () {
	const url = document.body.dataset.statsUrl || "/.uringd/stats";
	const PERIOD_MS = 1000;
	const HISTORY = 120; // samples kept: two minutes
	const COLORS = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e67700", "#0c8599", "#c2255c", "#5c940d",
		"#3b5bdb", "#a61e4d", "#087f5b", "#862e9c"];

	// samples[i] = {requests: [per loop], bytes: [...], lag: [...], offload: {total, classes: {name: depth}}}
	let samples = [];
	let prev = null; // the previous snapshot, for rates
	let loopIDs = [];

	const $ = (id) => document.getElementById(id);
	$("stats-url").textContent = url;

	// --- formatting -------------------------------------------------------

	function fmtNum(v) {
		if (!isFinite(v)) return "–";
		const a = Math.abs(v);
		if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
		if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
		if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
		if (a >= 10 || v === Math.round(v)) return v.toFixed(0);
		return v.toFixed(1);
	}

	function fmtBytes(v) {
		if (!isFinite(v)) return "–";
		const units = ["B", "KiB", "MiB", "GiB", "TiB"];
		let i = 0;
		while (Math.abs(v) >= 1024 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return (i === 0 || Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
	}

	function fmtMicros(v) {
		if (!isFinite(v)) return "–";
		if (v >= 1e6) return (v / 1e6).toFixed(2) + " s";
		if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + " ms";
		return v.toFixed(0) + " µs";
	}

	function fmtUptime(s) {
		s = Math.floor(s);
		const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
		if (d > 0) return d + "d " + h + "h " + m + "m";
		if (h > 0) return h + "h " + m + "m " + (s % 60) + "s";
		return m + "m " + (s % 60) + "s";
	}

	// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so the axis
	// gets round tick labels.
	function niceCeil(v) {
		if (!(v > 0)) return 1;
		const p = Math.pow(10, Math.floor(Math.log10(v)));
		for (const m of [1, 2, 5, 10]) {
			if (m * p >= v) return m * p;
		}
		return 10 * p;
	}

	// niceBytes rounds v up to a power of two, so byte axes get ticks such
	// as 2, 4, 6, 8 MiB.
	function niceBytes(v) {
		return v > 1 ? Math.pow(2, Math.ceil(Math.log2(v))) : 1;
	}

	// --- chart ------------------------------------------------------------

	// drawChart draws series ({name, color, values}) as lines over the last
	// HISTORY sample slots, newest at the right. nice rounds the largest
	// value up to the top of the axis.
	function drawChart(canvas, series, fmt, nice) {
		const dpr = window.devicePixelRatio || 1;
		const cssW = canvas.clientWidth || 480, cssH = canvas.clientHeight || 220;
		if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
			canvas.width = Math.round(cssW * dpr);
			canvas.height = Math.round(cssH * dpr);
		}
		const ctx = canvas.getContext("2d");
		ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
		ctx.clearRect(0, 0, cssW, cssH);

		const style = getComputedStyle(document.body);
		const fg = style.color;
		const grid = style.getPropertyValue("--line").trim() || "#ccc";
		const left = 58, right = 10, top = 10, bottom = 40;
		const w = cssW - left - right, h = cssH - top - bottom;

		let max = 0;
		for (const s of series) {
			for (const v of s.values) {
				if (isFinite(v) && v > max) max = v;
			}
		}
		const yMax = (nice || niceCeil)(max);
		const y = (v) => top + h - (Math.min(v, yMax) / yMax) * h;
		const x = (i, n) => left + ((HISTORY - n + i) / (HISTORY - 1)) * w;

		ctx.font = "11px system-ui, sans-serif";
		ctx.lineWidth = 1;
		ctx.textBaseline = "middle";
		ctx.textAlign = "right";
		for (let t = 0; t <= 4; t++) {
			const v = (yMax * t) / 4, yy = Math.round(y(v)) + 0.5;
			ctx.strokeStyle = grid;
			ctx.beginPath();
			ctx.moveTo(left, yy);
			ctx.lineTo(left + w, yy);
			ctx.stroke();
			ctx.fillStyle = fg;
			ctx.fillText(fmt(v), left - 6, yy);
		}
		ctx.textAlign = "center";
		ctx.textBaseline = "top";
		for (const sec of [90, 60, 30, 0]) {
			const xx = left + (1 - sec / ((HISTORY - 1) * PERIOD_MS / 1000)) * w;
			ctx.fillText(sec === 0 ? "now" : "−" + sec + " s", Math.max(left, Math.min(left + w, xx)), top + h + 4);
		}

		let points = 0;
		ctx.lineWidth = 1.75;
		ctx.lineJoin = "round";
		for (const s of series) {
			const n = s.values.length;
			ctx.strokeStyle = s.color;
			ctx.beginPath();
			let pen = false;
			for (let i = 0; i < n; i++) {
				const v = s.values[i];
				if (!isFinite(v)) {
					pen = false;
					continue;
				}
				if (pen) ctx.lineTo(x(i, n), y(v));
				else ctx.moveTo(x(i, n), y(v));
				pen = true;
				points++;
			}
			ctx.stroke();
		}

		// Legend under the time axis.
		ctx.textAlign = "left";
		ctx.textBaseline = "middle";
		let lx = left;
		const ly = top + h + 26;
		for (const s of series) {
			ctx.fillStyle = s.color;
			ctx.fillRect(lx, ly - 5, 10, 10);
			ctx.fillStyle = fg;
			ctx.fillText(s.name, lx + 14, ly);
			lx += 14 + ctx.measureText(s.name).width + 14;
		}
		canvas.dataset.series = String(series.length);
		canvas.dataset.points = String(points);
	}

	// --- data -------------------------------------------------------------

	function perLoop(key) {
		return loopIDs.map((id, k) => ({
			name: "loop " + id,
			color: COLORS[k % COLORS.length],
			values: samples.map((s) => s[key][k]),
		}));
	}

	function render() {
		drawChart($("chart-requests"), perLoop("requests"), fmtNum);
		drawChart($("chart-bytes"), perLoop("bytes"), fmtBytes, niceBytes);
		drawChart($("chart-lag"), perLoop("lag"), fmtMicros);
		const off = [{name: "all classes", color: COLORS[0], values: samples.map((s) => s.offload.total)}];
		const classes = samples.length ? Object.keys(samples[samples.length - 1].offload.classes) : [];
		classes.forEach((name, k) => off.push({
			name: name, color: COLORS[(k + 1) % COLORS.length],
			values: samples.map((s) => s.offload.classes[name]),
		}));
		drawChart($("chart-offload"), off, fmtNum);
		$("samples").textContent = String(samples.length);
	}

	function renderTable(snap, rates) {
		const body = $("loops").tBodies[0];
		body.replaceChildren();
		snap.loops.forEach((l, k) => {
			const r = rates ? rates[k] : null;
			const cells = [
				"loop " + l.id,
				r ? fmtNum(r.requests) : "–",
				r ? fmtBytes(r.bytesOut) + "/s" : "–",
				r ? fmtBytes(r.bytesIn) + "/s" : "–",
				fmtNum(l.connections),
				fmtMicros(l.lag_us.p50),
				fmtMicros(l.lag_us.p99),
				fmtMicros(l.lag_us.max),
			];
			const tr = document.createElement("tr");
			cells.forEach((text, i) => {
				const td = document.createElement("td");
				if (i === 0) {
					const sw = document.createElement("span");
					sw.className = "swatch";
					sw.style.background = COLORS[k % COLORS.length];
					td.appendChild(sw);
				}
				td.appendChild(document.createTextNode(text));
				tr.appendChild(td);
			});
			body.appendChild(tr);
		});
		$("uptime").textContent = fmtUptime(snap.uptime_s);
		$("conns").textContent = fmtNum(snap.connections.open);
		$("accepted").textContent = fmtNum(snap.connections.accepted_total);
		$("server").textContent = snap.server_version || "uringd";
	}

	// ingest turns a snapshot into rates against the previous one. A
	// restart (uptime went back) or a new loop count starts the history
	// over: rates across it would be nonsense.
	function ingest(snap) {
		const ids = snap.loops.map((l) => l.id);
		if (prev && (snap.uptime_s < prev.uptime_s || ids.join() !== loopIDs.join())) {
			samples = [];
			prev = null;
		}
		loopIDs = ids;
		let rates = null;
		if (prev) {
			const dt = (snap.unix_ms - prev.unix_ms) / 1000;
			if (dt > 0) {
				const byID = new Map(prev.loops.map((l) => [l.id, l]));
				const rate = (cur, old) => Math.max(0, cur - old) / dt;
				rates = snap.loops.map((l) => {
					const p = byID.get(l.id);
					return {
						requests: rate(l.requests_total, p.requests_total),
						bytesOut: rate(l.bytes_out_total, p.bytes_out_total),
						bytesIn: rate(l.bytes_in_total, p.bytes_in_total),
					};
				});
				const classes = {};
				for (const c of snap.offload.classes || []) classes[c.name] = c.queue_depth;
				samples.push({
					requests: rates.map((r) => r.requests),
					bytes: rates.map((r) => r.bytesOut),
					lag: snap.loops.map((l) => l.lag_us.p99),
					offload: {total: snap.offload.queue_depth, classes: classes},
				});
				if (samples.length > HISTORY) samples.shift();
			}
		}
		prev = snap;
		renderTable(snap, rates);
		render();
	}

	function setStatus(text, isError) {
		const el = $("status");
		el.textContent = text;
		el.className = "status-line" + (isError ? " error" : "");
	}

	async function poll() {
		try {
			const res = await fetch(url, {cache: "no-store"});
			if (!res.ok) throw new Error("HTTP " + res.status);
			const snap = await res.json();
			if (!Array.isArray(snap.loops)) throw new Error("not a stats document");
			ingest(snap);
			setStatus("Updated " + new Date(snap.unix_ms).toLocaleTimeString() + " · " + snap.loops.length + " loops", false);
		} catch (e) {
			setStatus("Cannot read " + url + ": " + e.message + " (retrying every second)", true);
		} finally {
			setTimeout(poll, PERIOD_MS);
		}
	}

	window.addEventListener("resize", render);
	render();
	poll();
})();
