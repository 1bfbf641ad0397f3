"""The Live page's HTML and script (served by rig.app.camera): nothing is loaded from outside 127.0.0.1.

The script: choose the photo (a file, or the app page's current face when opened from the app with
?key=), start the camera (getUserMedia), then loop: draw the newest camera frame into a canvas
(320 px wide), send it as JPEG, show the answer beside the camera. One request is in flight; frames
the camera shows meanwhile are never sent (dropped, counted). fps and latency (frame captured -> answer
shown) over the last two seconds are on the page; window.facerigLive holds them for tests and the bench.
Errors (no camera permission, a camera that stops, a photo without a face, a server error) are one
line in #live-error.
"""
from __future__ import annotations

#: width of the frames sent (the tracker needs no more; less to encode, send and decode)
SEND_WIDTH = 320

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>facerig live</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 16px; color: #222; }
 .row { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
 video, #live-out { width: 320px; height: auto; background: #ddd; border-radius: 6px; }
 #live-error { color: #b00020; min-height: 1.2em; }
 button { margin-right: 6px; }
 #live-stats { font-variant-numeric: tabular-nums; }
</style></head>
<body>
<h2>facerig live: your camera drives a photo</h2>
<p>Runs on this computer only. The photo follows your head and face through the photo engine (its own
pixels, warped); the first half second settles your neutral face, so look at the camera.</p>
<div>
 <label>photo: <input type="file" id="live-photo" accept="image/*"></label>
 <button id="live-use-app" hidden>use the app's current photo</button>
 <span id="live-photo-state"></span>
</div>
<p>
 <button id="live-start" disabled>start camera</button>
 <button id="live-stop" disabled>stop</button>
 <button id="live-record" disabled>record</button>
 <span id="live-stats">-</span>
</p>
<div id="live-error"></div>
<div class="row">
 <figure><video id="live-camera" autoplay muted playsinline></video><figcaption>camera</figcaption></figure>
 <figure><img id="live-out" alt="the photo, live"><figcaption>photo (live)</figcaption></figure>
</div>
<div id="live-files"></div>
<script>
(() => {
  const ROUTE = 'ROUTE_PATH', SEND_WIDTH = SEND_PX;
  const $ = (id) => document.getElementById(id);
  const video = $('live-camera'), out = $('live-out'), errorLine = $('live-error');
  const key = new URLSearchParams(location.search).get('key');
  const state = window.facerigLive = {session: null, running: false, busy: false, sent: 0, answered: 0,
    dropped: 0, recent: [], latencies: [], log: [], keepLog: false, error: '', state: '', stream: null, recording: false};
  const canvas = document.createElement('canvas');
  let shownUrl = null, lastVideoTime = -1;
  const fail = (message) => { state.error = message; errorLine.textContent = 'error: ' + message; };
  const clearError = () => { state.error = ''; errorLine.textContent = ''; };
  async function lineOf(reply) { return ((await reply.text()) || reply.statusText).split('\\n')[0]; }

  async function choose(body, query) {
    clearError();
    $('live-photo-state').textContent = 'fitting the photo...';
    $('live-start').disabled = true;
    try {
      const reply = await fetch(ROUTE + '/photo' + query, {method: 'POST', body});
      if (!reply.ok) { $('live-photo-state').textContent = ''; fail(await lineOf(reply)); return; }
      const info = await reply.json();
      state.session = info.session;
      $('live-photo-state').textContent = `ready (${info.width}x${info.height} px)`;
      $('live-start').disabled = false;
    } catch (err) { $('live-photo-state').textContent = ''; fail('the server did not answer (' + err + ')'); }
  }
  $('live-photo').addEventListener('change', (e) => { const f = e.target.files[0]; if (f) choose(f, ''); });
  if (key) {
    $('live-use-app').hidden = false;
    $('live-use-app').addEventListener('click', () => choose(null, '?key=' + encodeURIComponent(key)));
  }

  function stopCamera(message) {
    state.running = false;
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    $('live-start').disabled = !state.session;
    $('live-stop').disabled = true;
    $('live-record').disabled = true;
    if (message) fail(message);
  }
  $('live-start').addEventListener('click', async () => {
    clearError();
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
    } catch (err) {
      fail(err && err.name === 'NotAllowedError' ? 'no permission to use the camera' :
           'no camera could be opened (' + (err && err.name || err) + ')');
      return;
    }
    state.stream.getVideoTracks().forEach((t) => t.addEventListener('ended', () => stopCamera('the camera stopped')));
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    state.running = true;
    $('live-start').disabled = true;
    $('live-stop').disabled = false;
    $('live-record').disabled = false;
    schedule();
  });
  $('live-stop').addEventListener('click', () => stopCamera(''));

  async function send() {
    const w = SEND_WIDTH, h = Math.round(video.videoHeight * SEND_WIDTH / video.videoWidth);
    canvas.width = w; canvas.height = h;
    canvas.getContext('2d').drawImage(video, 0, 0, w, h);
    const captured = performance.now();
    const frame = await new Promise((ok) => canvas.toBlob(ok, 'image/jpeg', 0.85));
    state.sent += 1;
    const reply = await fetch(`${ROUTE}/frame?session=${state.session}&t=${captured.toFixed(1)}`,
                              {method: 'POST', body: frame, cache: 'no-store'});
    if (reply.status === 409) { state.dropped += 1; return; }
    if (!reply.ok) { stopCamera(await lineOf(reply)); return; }
    const answer = await reply.blob();
    const url = URL.createObjectURL(answer);
    out.src = url;
    await out.decode().catch(() => {});
    const shown = performance.now();
    if (shownUrl && !state.keepLog) URL.revokeObjectURL(shownUrl);
    shownUrl = url;
    state.answered += 1;
    state.state = reply.headers.get('X-Facerig-State') || '';
    state.latencies.push(shown - captured);
    state.recent.push(shown);
    if (state.keepLog) state.log.push({sent: frame, got: answer, latency: shown - captured, state: state.state});
    while (state.recent.length && state.recent[0] < shown - 2000) state.recent.shift();
    const lat = state.latencies.slice(-50).slice().sort((a, b) => a - b);
    $('live-stats').textContent = `${(state.recent.length / 2).toFixed(1)} fps, latency ` +
      `${lat[Math.floor(lat.length / 2)].toFixed(0)} ms (median of the last ${lat.length}), ` +
      `${state.dropped} camera frames dropped, ${state.state}`;
  }
  // each new camera frame: sent when no request is out, else dropped (never queued)
  function onFrame() {
    if (!state.running) return;
    if (state.busy) state.dropped += 1;
    else if (video.readyState >= 2 && video.currentTime !== lastVideoTime) {
      lastVideoTime = video.currentTime;
      state.busy = true;
      send().catch((err) => stopCamera('the server did not answer (' + err + ')')).finally(() => { state.busy = false; });
    }
    schedule();
  }
  const schedule = () => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(onFrame)
                                                          : requestAnimationFrame(onFrame));

  $('live-record').addEventListener('click', async () => {
    const on = !state.recording;
    const reply = await fetch(`${ROUTE}/record?session=${state.session}&on=${on ? 1 : 0}`, {method: 'POST'});
    if (!reply.ok) { fail(await lineOf(reply)); state.recording = false; $('live-record').textContent = 'record'; return; }
    const info = await reply.json();
    state.recording = info.recording;
    $('live-record').textContent = state.recording ? 'stop recording' : 'record';
    if (!info.recording) {
      state.files = info.files;
      $('live-files').innerHTML = Object.entries(info.files).map(([k, u]) =>
        `<a href="${u}" download>${k}</a>`).join(' ');
    }
  });
})();
</script>
</body></html>
"""


#: the app page's link to the Live page, put in the page's corner by a head script (rig.app.server), which also
#: adds the page's key to it so the Live page can offer the app's current photo
LINK_ID = "live-camera-link"
LINK_SCRIPT = """<script>
(() => {
  const add = () => {
    if (document.getElementById('LINK_ID')) return true;
    if (!document.body || !document.querySelector('.gradio-container')) return false;
    const a = document.createElement('a');
    a.id = 'LINK_ID'; a.href = 'ROUTE_PATH'; a.target = '_blank'; a.rel = 'noopener';
    a.textContent = 'Live: drive the photo with your camera';
    a.style.cssText = 'position:fixed;top:8px;right:12px;z-index:1000;font:14px system-ui,sans-serif';
    a.addEventListener('click', () => {
      const key = document.querySelector('#page-key textarea, #page-key input')?.value;
      a.href = 'ROUTE_PATH' + (key ? '?key=' + encodeURIComponent(key) : '');
    });
    document.body.appendChild(a);
    return true;
  };
  const timer = setInterval(() => { if (add()) clearInterval(timer); }, 300);
})();
</script>"""


def link_script(route: str) -> str:
    """The head script that adds the Live link to the app's page."""
    return LINK_SCRIPT.replace("LINK_ID", LINK_ID).replace("ROUTE_PATH", route)


def page_html(route: str) -> str:
    """The Live page with its routes filled in."""
    return PAGE.replace("ROUTE_PATH", route).replace("SEND_PX", str(SEND_WIDTH))
