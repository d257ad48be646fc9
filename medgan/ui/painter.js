// The Studio's slice viewer and label painter (medgan/ui/painter.py).
//
// The server sends a view (the hidden #mg-view textbox, JSON): the windowed slice as a greyscale PNG at its own
// size, its label codes as a PNG of the same size (class index, +128 where the inpainting region is), where the
// slice lies on the square canvas, the class colours and the overlay style. The picture is drawn here, scaled to
// that box; strokes change the codes in place, in voxels. Events that need the strokes read them from
// window.mgStrokes() (a JSON string with the view key and, when something was painted, the codes as a PNG),
// injected into the event's inputs before it leaves: nothing is uploaded and nothing waits on the painter.
(() => {
  const REGION = 128;
  const P = {
    view: null, img: null, codes: null, dirty: false, seq: 0, drawn: 0,
    tool: 1, size: 12, undo: [], opacity: 0.4, outline: false, down: false, last: null, cursor: null,
    unsent: new Map(),  // voxel → code painted since the strokes were last sent
    orphan: null,  // {key, codes} of a slice replaced before its strokes were sent
    layer: null,  // the label overlay drawn from the codes; null when the codes or the style changed
  };
  window.mgP = P;

  const $ = (sel) => document.querySelector(sel);
  const canvas = () => $("#mg-canvas");

  const loadImage = (src) => new Promise((resolve, reject) => {
    const im = new Image();
    im.onload = () => resolve(im);
    im.onerror = () => reject(new Error("the slice picture could not be decoded"));
    im.src = src;
  });

  const readCodes = (im, w, h) => {
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    const cx = c.getContext("2d", {willReadFrequently: true});
    cx.drawImage(im, 0, 0);
    const px = cx.getImageData(0, 0, w, h).data;
    const out = new Uint8Array(w * h);
    for (let i = 0; i < out.length; i++) out[i] = px[4 * i];
    return out;
  };

  // A new view from the server: it replaces the codes (which already hold every stroke the server has read).
  window.mgShow = async (text) => {
    if (!text) return [];
    let v;
    try { v = JSON.parse(text); } catch (e) { return []; }
    const seq = ++P.seq;
    const [img, codesImg] = await Promise.all([loadImage(v.image), loadImage(v.codes)]);
    if (seq !== P.seq) return [];  // a newer view arrived while these decoded
    const [h, w] = v.shape;
    const codes = readCodes(codesImg, w, h);
    // Strokes painted while this view was on its way (never sent) are kept when it shows the same slice.
    const keep = P.unsent.size > 0 && P.view && sameSlice(P.view.key, v.key);
    if (keep) P.unsent.forEach((code, i) => { codes[i] = code; });
    else if (P.unsent.size > 0 && P.view) P.orphan = {key: P.view.key, codes: encode(P.codes, P.view.shape)};
    if (!keep) P.unsent = new Map();
    P.view = v; P.img = img; P.codes = codes;
    P.dirty = keep; P.undo = []; P.layer = null;
    P.opacity = v.opacity; P.outline = v.outline;
    if (P.tool !== "region" && P.tool !== "erase" && P.tool >= v.colours.length) P.tool = 1;
    tools(v);
    const draw = () => {
      const c = canvas();
      if (!c) { requestAnimationFrame(draw); return; }
      render();
      P.drawn += 1;
      P.drawnAt = performance.now();
      c.dataset.key = v.key;
      c.dataset.drawn = String(P.drawn);
    };
    draw();
    return [];
  };

  const sameSlice = (a, b) => a.split(":").slice(0, 3).join(":") === b.split(":").slice(0, 3).join(":");

  // The codes of a slice as a lossless PNG data URL (grey value = code).
  const encode = (codes, shape) => {
    const [h, w] = shape;
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    const cx = c.getContext("2d");
    const im = cx.createImageData(w, h);
    for (let i = 0; i < codes.length; i++) {
      const k = 4 * i;
      im.data[k] = im.data[k + 1] = im.data[k + 2] = codes[i];
      im.data[k + 3] = 255;
    }
    cx.putImageData(im, 0, 0);
    return c.toDataURL("image/png");
  };

  // What the server needs of the painter: the view key and, when something was painted, the codes; strokes left
  // on a slice that was replaced before they were sent go along as ``orphan`` (they land on their own slice).
  window.mgStrokes = () => {
    if (!P.view) return "";
    P.unsent = new Map();
    const msg = {key: P.view.key};
    if (P.dirty) msg.codes = encode(P.codes, P.view.shape);
    if (P.orphan) { msg.orphan = P.orphan; P.orphan = null; }
    return JSON.stringify(msg);
  };

  // Replace input ``pos`` of an event with the strokes (used as the ``js`` of Studio events).
  window.mgWithStrokes = (pos, n, args) => {
    const a = Array.from(args).slice(0, n);
    a[pos] = window.mgStrokes();
    return a;
  };

  window.mgStyle = (opacity, outline) => {
    P.opacity = Number(opacity); P.outline = Boolean(outline); P.layer = null;
    if (P.view) render();
    return [];
  };

  const overlay = () => {
    const v = P.view, [h, w] = v.shape, codes = P.codes;
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    const cx = c.getContext("2d");
    const im = cx.createImageData(w, h), d = im.data;
    const alpha = Math.round(255 * Math.min(1, Math.max(0.2, P.opacity)));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x, code = codes[i], k = 4 * i;
        if (code & REGION) {
          d[k] = d[k + 1] = d[k + 2] = 255; d[k + 3] = 200;
          continue;
        }
        const lab = code & 127;
        if (!lab || lab >= v.colours.length) continue;
        if (P.outline) {
          const same = (yy, xx) => yy < 0 || yy >= h || xx < 0 || xx >= w || (codes[yy * w + xx] & 127) === lab;
          if (same(y - 1, x) && same(y + 1, x) && same(y, x - 1) && same(y, x + 1)) continue;
        }
        const col = v.colours[lab];
        d[k] = col[0]; d[k + 1] = col[1]; d[k + 2] = col[2]; d[k + 3] = alpha;
      }
    }
    cx.putImageData(im, 0, 0);
    return c;
  };

  let pending = false;
  const render = () => {
    const c = canvas();
    if (!c || !P.view) return;
    const v = P.view, [top, left, dh, dw] = v.box;
    const cx = c.getContext("2d");
    cx.fillStyle = "#000";
    cx.fillRect(0, 0, c.width, c.height);
    cx.imageSmoothingEnabled = true;
    cx.imageSmoothingQuality = "high";
    cx.drawImage(P.img, left, top, dw, dh);
    cx.imageSmoothingEnabled = false;
    if (!P.layer) P.layer = overlay();
    cx.drawImage(P.layer, left, top, dw, dh);
    if (P.cursor) {
      cx.strokeStyle = "rgba(255, 255, 0, 0.8)";
      cx.lineWidth = 1;
      cx.beginPath();
      cx.arc(P.cursor[0], P.cursor[1], P.size / 2, 0, 2 * Math.PI);
      cx.stroke();
    }
  };
  const renderSoon = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  };

  // Canvas pixel → voxel (fractional), and a round brush of P.size canvas pixels painted in voxels.
  const where = (e) => {
    const c = canvas(), r = c.getBoundingClientRect();
    return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height];
  };
  const dab = (x, y) => {
    const v = P.view, [top, left, dh, dw] = v.box, [h, w] = v.shape;
    const vx = (x - left) * w / dw, vy = (y - top) * h / dh;
    const rx = Math.max(0.5, (P.size / 2) * w / dw), ry = Math.max(0.5, (P.size / 2) * h / dh);
    for (let yy = Math.max(0, Math.floor(vy - ry)); yy <= Math.min(h - 1, Math.ceil(vy + ry)); yy++) {
      for (let xx = Math.max(0, Math.floor(vx - rx)); xx <= Math.min(w - 1, Math.ceil(vx + rx)); xx++) {
        const ex = (xx + 0.5 - vx) / rx, ey = (yy + 0.5 - vy) / ry;
        if (ex * ex + ey * ey > 1) continue;
        const i = yy * w + xx;
        if (P.tool === "erase") P.codes[i] = 0;
        else if (P.tool === "region") P.codes[i] |= REGION;
        else P.codes[i] = (P.codes[i] & REGION) | P.tool;
        P.unsent.set(i, P.codes[i]);
      }
    }
    P.dirty = true;
    P.layer = null;
  };
  const line = (a, b) => {
    const n = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / Math.max(1, P.size / 4)));
    for (let i = 1; i <= n; i++) dab(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n);
  };

  const undo = () => {
    if (!P.undo.length) return;
    P.codes = P.undo.pop();
    P.unsent = new Map();
    P.dirty = true;
    P.layer = null;
    render();
  };

  document.addEventListener("pointerdown", (e) => {
    const c = canvas();
    if (!c || e.target !== c || !P.view || e.button !== 0) return;
    e.preventDefault();
    c.setPointerCapture(e.pointerId);
    P.undo.push(P.codes.slice());
    if (P.undo.length > 30) P.undo.shift();
    P.down = true;
    P.last = where(e);
    dab(...P.last);
    renderSoon();
  });
  document.addEventListener("pointermove", (e) => {
    const c = canvas();
    if (!c || !P.view) return;
    if (e.target === c || P.down) P.cursor = where(e);
    if (!P.down) { if (e.target === c) renderSoon(); return; }
    const now = where(e);
    line(P.last, now);
    P.last = now;
    renderSoon();
  });
  const end = () => { P.down = false; P.last = null; };
  document.addEventListener("pointerup", end);
  document.addEventListener("pointercancel", end);
  document.addEventListener("pointerleave", (e) => {
    if (e.target === canvas()) { P.cursor = null; renderSoon(); }
  }, true);
  document.addEventListener("keydown", (e) => {
    const ed = $("#mg-editor");
    if (!ed || !(ed.contains(e.target) || e.target === document.body)) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); }
  });

  // The toolbar: one button per class colour, the region (white) and the eraser; brush size; undo.
  const tools = (v) => {
    const bar = $("#mg-tools");
    if (!bar) { requestAnimationFrame(() => tools(v)); return; }
    const sig = JSON.stringify([v.colours, v.names]);
    if (bar.dataset.sig !== sig) {
      bar.dataset.sig = sig;
      const buttons = v.colours.slice(1).map((col, i) =>
        `<button type="button" class="mg-tool" data-tool="${i + 1}" data-rgb="${col.join(",")}" ` +
        `title="${v.names[i + 1] || "class " + (i + 1)}" aria-label="${v.names[i + 1] || "class " + (i + 1)}" ` +
        `style="background: rgb(${col.join(",")})"></button>`);
      buttons.push('<button type="button" class="mg-tool" data-tool="region" data-rgb="255,255,255" ' +
                   'title="region to inpaint" aria-label="region to inpaint" style="background: #fff"></button>');
      buttons.push('<button type="button" class="mg-tool mg-erase" data-tool="erase" title="eraser" ' +
                   'aria-label="eraser">⌫</button>');
      bar.innerHTML = buttons.join("");
    }
    bar.querySelectorAll(".mg-tool").forEach((b) => {
      b.classList.toggle("mg-on", String(P.tool) === b.dataset.tool);
    });
  };
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest("#mg-editor .mg-tool");
    if (b) {
      const t = b.dataset.tool;
      P.tool = t === "region" || t === "erase" ? t : Number(t);
      if (P.view) tools(P.view);
      return;
    }
    if (e.target.closest && e.target.closest("#mg-undo")) undo();
  });
  document.addEventListener("input", (e) => {
    if (e.target && e.target.id === "mg-size") P.size = Number(e.target.value);
  });

  // The mouse wheel over the painter scrolls slices (one slice per notch, down = next), as in a radiology
  // viewer: it moves the slice slider as the arrow keys do, so the same handler redraws.
  let acc = 0;
  document.addEventListener("wheel", (e) => {
    const ed = $("#mg-editor");
    if (!ed || !ed.contains(e.target)) return;
    const input = $("#mg-slice input[type=range]");
    if (!input || input.disabled) return;
    e.preventDefault();
    e.stopPropagation();
    acc += e.deltaY;
    if (Math.abs(acc) < 40) return;
    const step = acc > 0 ? 1 : -1;
    acc = 0;
    const v = Math.min(Number(input.max), Math.max(Number(input.min), Number(input.value) + step));
    if (v === Number(input.value)) return;
    input.value = String(v);
    input.dispatchEvent(new Event("input", {bubbles: true}));
  }, {capture: true, passive: false});
})();
