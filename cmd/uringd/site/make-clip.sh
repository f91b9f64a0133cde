#!/bin/sh
# Makes clip.webm, the demo site's video: 24 s of ffmpeg's testsrc2 pattern
# (480x270, 25 fps) with a 440 Hz tone that beeps once a second, VP9 and
# Opus in WebM. A keyframe every 2 s (-g 50) and the cues (the seek index)
# at the front of the file let a browser seek with one Range request.
# Needs ffmpeg built with libvpx and libopus (Debian: apt-get install ffmpeg).
# Run from anywhere: go generate ./cmd/uringd/site
set -eu
cd "$(dirname "$0")"
ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i "testsrc2=size=480x270:rate=25:duration=24" \
	-f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=24" \
	-c:v libvpx-vp9 -b:v 500k -maxrate 800k -bufsize 1000k -g 50 -keyint_min 50 \
	-deadline good -cpu-used 4 -row-mt 1 -threads 1 \
	-c:a libopus -b:a 64k \
	-cues_to_front 1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
	-metadata title="uringd demo clip (ffmpeg testsrc2 + sine)" \
	clip.webm
ffprobe -hide_banner -loglevel error -show_entries format=duration,size:stream=codec_name,width,height \
	-of compact clip.webm
