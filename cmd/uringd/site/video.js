// Shows which parts of the clip the browser has fetched, so that the
// Range requests behind seeking can be seen without developer tools.
"use strict";

(function () {
	const video = document.getElementById("clip");
	const buffered = document.getElementById("buffered");
	const position = document.getElementById("position");

	function show() {
		const parts = [];
		for (let i = 0; i < video.buffered.length; i++) {
			parts.push(video.buffered.start(i).toFixed(1) + "–" + video.buffered.end(i).toFixed(1) + " s");
		}
		buffered.textContent = parts.length ? parts.join(", ") : "none yet";
		const total = isFinite(video.duration) ? " of " + video.duration.toFixed(1) + " s" : "";
		position.textContent = video.currentTime.toFixed(1) + " s" + total;
	}

	for (const ev of ["loadedmetadata", "progress", "timeupdate", "seeked"]) {
		video.addEventListener(ev, show);
	}
	show();
})();
