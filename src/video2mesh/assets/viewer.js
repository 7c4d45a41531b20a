// video2mesh viewer: a dependency-free WebGL 1 mesh viewer with orbit controls and a switch between
// sweep points. Data: <script id="v2m-data" type="application/json"> with framing and meshes whose
// positions are uint16 quantised in the cube quant_center ± quant_extent and whose indices are uint16/uint32, gzip'd and
// base64'd, followed by optional uint16 UVs and uint8 RGB vertex colours; a textured record carries
// its texture as a data: URI. Everything runs offline; failures are shown in the page, never thrown.
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("v2m-data").textContent);
  const canvas = document.getElementById("v2m-canvas");
  const info = document.getElementById("v2m-info");
  const status = document.getElementById("v2m-status");

  function say(text) { status.textContent = text; }

  function b64bytes(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function gunzip(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // ---- small vector helpers -------------------------------------------------------------
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const norm = (a) => { const l = Math.hypot(a[0], a[1], a[2]) || 1; return [a[0] / l, a[1] / l, a[2] / l]; };

  // ---- decode a mesh into positions (world), normals, indices ----------------------------
  async function decode(m) {
    const raw = await gunzip(b64bytes(m.data));
    const nv = m.vertices, nf = m.faces;
    const q = new Uint16Array(raw.buffer, 0, nv * 3);
    const idxOffset = nv * 6 + ((nv * 6) % 4 ? 2 : 0);
    const idx = m.index32 ? new Uint32Array(raw.buffer, idxOffset, nf * 3)
                          : new Uint16Array(raw.buffer, idxOffset, nf * 3);
    const c = DATA.framing.quant_center, e = DATA.framing.quant_extent;
    const pos = new Float32Array(nv * 3);
    for (let i = 0; i < nv * 3; i++) pos[i] = c[i % 3] + (q[i] / 65535 * 2 - 1) * e;
    let offset = idxOffset + nf * 3 * (m.index32 ? 4 : 2);
    let uv = null, rgb = null;
    if (m.uv) {  // v up (OBJ/trimesh convention): WebGL's t = 0 is the first image row uploaded
      const u16 = new Uint16Array(raw.buffer.slice(offset, offset + nv * 4));
      uv = new Float32Array(nv * 2);
      for (let i = 0; i < nv; i++) { uv[2 * i] = u16[2 * i] / 65535; uv[2 * i + 1] = 1 - u16[2 * i + 1] / 65535; }
      offset += nv * 4;
    }
    if (m.colors) {
      const u8 = new Uint8Array(raw.buffer, offset, nv * 3);
      rgb = new Float32Array(nv * 3);
      for (let i = 0; i < nv * 3; i++) rgb[i] = u8[i] / 255;
    }
    const nrm = new Float32Array(nv * 3);
    for (let f = 0; f < nf; f++) {
      const a = idx[3 * f] * 3, b = idx[3 * f + 1] * 3, d = idx[3 * f + 2] * 3;
      const n = cross([pos[b] - pos[a], pos[b + 1] - pos[a + 1], pos[b + 2] - pos[a + 2]],
                      [pos[d] - pos[a], pos[d + 1] - pos[a + 1], pos[d + 2] - pos[a + 2]]);
      for (const v of [a, b, d]) { nrm[v] += n[0]; nrm[v + 1] += n[1]; nrm[v + 2] += n[2]; }
    }
    return { pos, nrm, idx, uv, rgb, count: nf * 3 };
  }

  // ---- WebGL -------------------------------------------------------------------------------
  const gl = canvas.getContext("webgl", { antialias: true, preserveDrawingBuffer: true });
  if (!gl) { say("WebGL is not available in this browser: the viewer cannot draw."); return; }
  const uint32 = gl.getExtension("OES_element_index_uint");
  // mode 0: plain colour, shaded; 1: vertex colours; 2: texture. Colours from photos already hold
  // the light of the scene, so they get only a mild shade (enough to read the shape).
  const VS = `attribute vec3 p; attribute vec3 n; attribute vec3 c; attribute vec2 t;
    uniform mat4 mvp; uniform mat3 view; varying vec3 vn; varying vec3 vc; varying vec2 vt;
    void main(){ vn = view * n; vc = c; vt = t; gl_Position = mvp * vec4(p, 1.0); }`;
  const FS = `precision mediump float; varying vec3 vn; varying vec3 vc; varying vec2 vt;
    uniform vec4 color; uniform int mode; uniform sampler2D tex;
    void main(){ vec3 n = normalize(vn); if (n.z < 0.0) n = -n;
      float key = max(dot(n, normalize(vec3(-0.5, 0.7, 0.6))), 0.0);
      float l = 0.18 + 0.5 * key + 0.4 * n.z;
      if (mode == 0) { gl_FragColor = vec4(color.rgb * l, color.a); return; }
      vec3 base = mode == 1 ? vc : texture2D(tex, vt).rgb;
      gl_FragColor = vec4(base * (0.85 + 0.15 * l), 1.0); }`;
  function shader(type, src) {
    const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  const prog = gl.createProgram();
  gl.attachShader(prog, shader(gl.VERTEX_SHADER, VS));
  gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FS));
  gl.linkProgram(prog);
  gl.useProgram(prog);
  const loc = { p: gl.getAttribLocation(prog, "p"), n: gl.getAttribLocation(prog, "n"),
                c: gl.getAttribLocation(prog, "c"), t: gl.getAttribLocation(prog, "t"),
                mvp: gl.getUniformLocation(prog, "mvp"), view: gl.getUniformLocation(prog, "view"),
                color: gl.getUniformLocation(prog, "color"), mode: gl.getUniformLocation(prog, "mode"),
                tex: gl.getUniformLocation(prog, "tex") };

  function loadImage(uri) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("cannot decode the texture"));
      img.src = uri;
    });
  }

  function uploadTexture(img) {
    const t = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, img);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return t;
  }

  function upload(mesh) {
    const buf = (target, data) => { const b = gl.createBuffer(); gl.bindBuffer(target, b);
      gl.bufferData(target, data, gl.STATIC_DRAW); return b; };
    return { p: buf(gl.ARRAY_BUFFER, mesh.pos), n: buf(gl.ARRAY_BUFFER, mesh.nrm),
             c: mesh.rgb ? buf(gl.ARRAY_BUFFER, mesh.rgb) : null,
             t: mesh.uv ? buf(gl.ARRAY_BUFFER, mesh.uv) : null,
             i: buf(gl.ELEMENT_ARRAY_BUFFER, mesh.idx), count: mesh.count,
             type: mesh.idx instanceof Uint32Array ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT };
  }

  // ---- camera: orbit around the scene's up axis ---------------------------------------------
  const F = DATA.framing;
  const up = norm(F.up);
  const e1 = norm(cross(up, Math.abs(up[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0]));
  const e2 = cross(up, e1);
  const home = { az: (F.home_azimuth ?? 30) * Math.PI / 180, el: 25 * Math.PI / 180, zoom: 1, pan: [0, 0] };
  const cam = Object.assign({}, home, { pan: [0, 0] });

  function basis() {
    const ce = Math.cos(cam.el), se = Math.sin(cam.el);
    const toCam = [0, 1, 2].map(i => ce * (Math.cos(cam.az) * e1[i] + Math.sin(cam.az) * e2[i]) + se * up[i]);
    const fwd = toCam.map(x => -x);
    const right = norm(cross(fwd, up));
    const camUp = cross(right, fwd);
    return { right, camUp, back: toCam };
  }

  function matrices() {
    const { right, camUp, back } = basis();
    const w = canvas.width, h = canvas.height, aspect = w / h;
    const ext = F.extent / cam.zoom;
    const sx = 1 / (ext * Math.max(aspect, 1)), sy = 1 / (ext * Math.max(1 / aspect, 1));
    const sz = 1 / (4 * F.extent);
    const c = [F.center[0], F.center[1], F.center[2]];
    const tx = -dot(right, c) / 1 + cam.pan[0], ty = -dot(camUp, c) + cam.pan[1], tz = -dot(back, c);
    // Column-major orthographic view-projection (x right, y up, depth towards the camera).
    const mvp = new Float32Array([
      sx * right[0], sy * camUp[0], -sz * back[0], 0,
      sx * right[1], sy * camUp[1], -sz * back[1], 0,
      sx * right[2], sy * camUp[2], -sz * back[2], 0,
      sx * tx, sy * ty, -sz * tz, 1]);
    const view = new Float32Array([right[0], camUp[0], back[0], right[1], camUp[1], back[1],
                                   right[2], camUp[2], back[2]]);
    return { mvp, view };
  }

  // ---- state and drawing ----------------------------------------------------------------------
  const cache = new Map();
  let current = null, reference = null, showRef = false, token = 0;

  function resize() {
    const r = canvas.getBoundingClientRect(), d = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * d)), h = Math.max(1, Math.round(r.height * d));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  }

  function attribute(where, buffer, size) {
    if (where < 0) return;
    if (!buffer) { gl.disableVertexAttribArray(where); return; }
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer); gl.enableVertexAttribArray(where);
    gl.vertexAttribPointer(where, size, gl.FLOAT, false, 0, 0);
  }

  function drawMesh(g, color, mode) {
    attribute(loc.p, g.p, 3);
    attribute(loc.n, g.n, 3);
    attribute(loc.c, mode === 1 ? g.c : null, 3);
    attribute(loc.t, mode === 2 ? g.t : null, 2);
    if (mode === 2) { gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, g.texture); gl.uniform1i(loc.tex, 0); }
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, g.i);
    gl.uniform4fv(loc.color, color);
    gl.uniform1i(loc.mode, mode);
    gl.drawElements(gl.TRIANGLES, g.count, g.type, 0);
  }

  function draw() {
    resize();
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    const { mvp, view } = matrices();
    gl.uniformMatrix4fv(loc.mvp, false, mvp);
    gl.uniformMatrix3fv(loc.view, false, view);
    gl.disable(gl.BLEND); gl.depthMask(true);
    if (current) drawMesh(current.g, [0.72, 0.78, 0.88, 1], current.mode);
    if (showRef && reference) {
      gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA); gl.depthMask(false);
      drawMesh(reference, [0.95, 0.55, 0.2, 0.35], 0);
    }
  }

  async function geometry(m, key) {
    if (!cache.has(key)) {
      if (m.index32 && !uint32) throw new Error("32-bit indices unsupported by this WebGL");
      const g = upload(await decode(m));
      if (m.texture) g.texture = uploadTexture(await loadImage(m.texture));
      cache.set(key, g);
    }
    return cache.get(key);
  }

  function fmt(v, digits) { return v === null || v === undefined ? "–" : Number(v).toPrecision(digits); }

  // ---- controls: selects per sweep dimension ------------------------------------------------
  const dims = ["run", "iterations", "resolution"];
  const selects = {};
  for (const d of dims) {
    selects[d] = document.getElementById("v2m-" + d);
    const values = [...new Set(DATA.meshes.map(m => m[d]))].sort((a, b) => (a > b) - (a < b));
    for (const v of values) { const o = document.createElement("option"); o.value = o.textContent = v; selects[d].appendChild(o); }
    selects[d].value = String(values[values.length - 1]);
    selects[d].addEventListener("change", select);
  }
  const refBox = document.getElementById("v2m-ref");
  if (!DATA.reference) refBox.parentElement.style.display = "none";
  refBox.addEventListener("change", async () => {
    showRef = refBox.checked;
    if (showRef && !reference) reference = await geometry(DATA.reference, "reference");
    draw();
  });

  // colour: the baked texture (its own decimated mesh), the vertex colours, or plain shading
  const colourSelect = document.getElementById("v2m-colour");
  const offers = { texture: DATA.meshes.some(m => m.textured), vertex: DATA.meshes.some(m => m.colors) };
  for (const o of [...colourSelect.options]) if (o.value !== "plain" && !offers[o.value]) o.remove();
  colourSelect.value = offers.texture ? "texture" : offers.vertex ? "vertex" : "plain";
  colourSelect.addEventListener("change", select);

  async function select() {
    const want = {};
    for (const d of dims) want[d] = selects[d].value;
    const m = DATA.meshes.find(x => dims.every(d => String(x[d]) === want[d]));
    const mine = ++token;
    if (!m) { current = null; info.textContent = "no mesh for this combination"; draw(); return; }
    say("loading…");
    try {
      const want = colourSelect.value;
      const shown = want === "texture" && m.textured ? m.textured : m;
      const mode = shown === m.textured ? 2 : want === "vertex" && m.colors ? 1 : 0;
      const g = await geometry(shown, shown === m.textured ? m.id + "/textured" : m.id);
      if (mine !== token) return;
      current = { g, mode };
      const s = m.stats || {};
      info.innerHTML = `<b>${m.run}</b> · ${m.iterations} it · res ${m.resolution}<br>` +
        `${s.faces ?? "?"} faces (shown: ${shown.faces}${mode === 2 ? ", textured" : ""}) · Chamfer-L1 ${fmt(s.chamfer_l1, 3)} · ` +
        `F@1% ${fmt(s.fscore_1pct, 3)}` + (s.reference_kind ? ` · vs ${s.reference_kind}` : "") +
        (s.dimensions_m ? `<br>${s.dimensions_m.map((x) => (100 * x).toFixed(1)).join(" × ")} cm (w × d × h, from real_size)` : "");
      say("");
      draw();
    } catch (err) {
      say("cannot show this mesh: " + err.message);
    }
  }

  // ---- pointer: drag to orbit, shift/right-drag to pan, wheel to zoom, double-click to reset --
  let drag = null;
  canvas.addEventListener("contextmenu", e => e.preventDefault());
  canvas.addEventListener("pointerdown", e => {
    drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 2 };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", e => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag.x = e.clientX; drag.y = e.clientY;
    if (drag.pan) {
      const s = 2 * F.extent / cam.zoom / Math.min(canvas.clientWidth, canvas.clientHeight);
      cam.pan[0] += dx * s; cam.pan[1] -= dy * s;
    } else {
      cam.az -= dx * 0.01;
      cam.el = Math.max(-1.55, Math.min(1.55, cam.el + dy * 0.01));
    }
    draw();
  });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("wheel", e => {
    e.preventDefault();
    cam.zoom = Math.max(0.2, Math.min(20, cam.zoom * Math.exp(-e.deltaY * 0.001)));
    draw();
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { Object.assign(cam, home, { pan: [0, 0] }); draw(); });
  window.addEventListener("resize", draw);

  select();
})();
