"""The graph picture widget's ES module and stylesheet, as Python strings.

They live in a Python module, not in .js/.css files, so that every install carries them: the
project's build packages Python modules only (no package-data), and anywidget reads ``_esm`` and
``_css`` as text. anywidget runs the module as is in JupyterLab 4, Notebook 7 and VS Code; it
needs no network and no build step.
"""

__all__ = ["ESM", "CSS"]

ESM = r"""// The grad_fn graph picture (autodiff-magics): the SVG computed in Python, plus clicks and zoom.
// A click on a box highlights it, the inputs it passes gradient to and the nodes that use it,
// and opens its details below the picture; the wheel zooms around the pointer, a drag pans,
// "fit" shows everything again. No network, no dependency: anywidget loads this module as is.

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "adm-gp";
  const bar = document.createElement("div");
  bar.className = "adm-gp-bar";
  const view = document.createElement("div");
  view.className = "adm-gp-view";
  const details = document.createElement("div");
  details.className = "adm-gp-details";
  root.append(bar, view, details);
  el.appendChild(root);

  const button = (text, title, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.title = title;
    b.className = "adm-gp-button";
    b.addEventListener("click", action);
    bar.appendChild(b);
    return b;
  };
  let svg = null;
  let full = null; // the whole picture's viewBox
  let box = null; // the viewBox shown now
  const show = () => svg && svg.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
  const zoom = (factor, cx, cy) => {
    if (!box) return;
    const w = Math.min(full.w * 4, Math.max(40, box.w * factor));
    const h = (w * box.h) / box.w;
    cx = cx === undefined ? box.x + box.w / 2 : cx;
    cy = cy === undefined ? box.y + box.h / 2 : cy;
    box = { x: cx - ((cx - box.x) * w) / box.w, y: cy - ((cy - box.y) * h) / box.h, w, h };
    touched = true;
    show();
  };
  const fit = () => {
    if (!full) return;
    touched = true;
    box = { ...full };
    show();
  };
  button("−", "zoom out", () => zoom(1.25));
  button("+", "zoom in", () => zoom(0.8));
  button("fit", "show the whole graph", fit);
  const more = button("draw more", "draw twice as many nodes", () => model.send({ draw: "more" }));
  const hint = document.createElement("span");
  hint.className = "adm-gp-hint";
  hint.textContent = "click a box: its inputs and users light up, its details open below · wheel: zoom · drag: pan";
  bar.appendChild(hint);

  const clear = () => {
    root.classList.remove("adm-gp-focus");
    for (const e of view.querySelectorAll(".adm-sel, .adm-input, .adm-user, .adm-hl")) {
      e.classList.remove("adm-sel", "adm-input", "adm-user", "adm-hl");
    }
    details.replaceChildren();
  };

  const select = (key) => {
    clear();
    const node = view.querySelector(`g.adm-node[data-key="${key}"]`);
    if (!node) return;
    root.classList.add("adm-gp-focus");
    node.classList.add("adm-sel");
    for (const edge of view.querySelectorAll(`g.adm-edge[data-source="${key}"]`)) {
      edge.classList.add("adm-hl");
      const input = view.querySelector(`g.adm-node[data-key="${edge.dataset.target}"]`);
      if (input) input.classList.add("adm-input");
    }
    for (const edge of view.querySelectorAll(`g.adm-edge[data-target="${key}"]`)) {
      edge.classList.add("adm-hl");
      const user = view.querySelector(`g.adm-node[data-key="${edge.dataset.source}"]`);
      if (user) user.classList.add("adm-user");
    }
    let info = null;
    try {
      info = JSON.parse(model.get("details") || "{}")[String(key)];
    } catch (e) {
      info = null;
    }
    if (info) {
      const title = document.createElement("div");
      title.className = "adm-gp-title";
      title.textContent = info.title;
      const table = document.createElement("table");
      for (const [k, v] of info.rows) {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        th.textContent = k;
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(th, td);
        table.appendChild(tr);
      }
      details.append(title, table);
    }
    model.set("selected", Number(node.dataset.node) || 0);
    model.save_changes();
  };

  // the picture starts at its natural size (smaller only where the output is narrower) and at most
  // `height` px tall, showing its top part: the output and the first layers; "fit" shows it all
  let touched = false;
  const size = () => {
    if (!svg || !full) return;
    const room = view.clientWidth || full.w;
    const scale = Math.min(1, room / full.w);
    const height = Math.min(full.h * scale, model.get("height") || 760);
    svg.setAttribute("width", String(Math.floor(full.w * scale)));
    svg.setAttribute("height", String(Math.ceil(height)));
    if (!touched) {
      box = { x: full.x, y: full.y, w: full.w, h: height / scale };
      show();
    }
  };
  const draw = () => {
    view.innerHTML = model.get("svg"); // markup built in Python, every user string escaped there
    svg = view.querySelector("svg");
    if (!svg) return;
    more.style.display = Number(svg.dataset.total) > Number(svg.dataset.nodes) && model.get("more") ? "" : "none";
    const [x, y, w, h] = (svg.getAttribute("viewBox") || "0 0 100 100").split(/\s+/).map(Number);
    full = { x, y, w, h };
    svg.dataset.full = `${x} ${y} ${w} ${h}`;
    svg.removeAttribute("style");
    svg.setAttribute("preserveAspectRatio", "xMidYMin meet");
    touched = false;
    size();
  };
  const resized = new ResizeObserver(() => size());
  resized.observe(view);

  const point = (event) => {
    const r = svg.getBoundingClientRect();
    const scale = Math.max(box.w / r.width, box.h / r.height);
    return { x: box.x + (event.clientX - r.left) * scale, y: box.y + (event.clientY - r.top) * scale, scale };
  };
  const onWheel = (event) => {
    if (!svg || !box) return;
    event.preventDefault();
    const p = point(event);
    zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
  };
  let drag = null;
  const onDown = (event) => {
    if (!svg || event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, box: { ...box }, moved: false, scale: point(event).scale };
  };
  const onMove = (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.moved) {
      box = { ...drag.box, x: drag.box.x - dx * drag.scale, y: drag.box.y - dy * drag.scale };
      touched = true;
      show();
    }
  };
  const onUp = (event) => {
    if (!drag) return;
    const moved = drag.moved;
    drag = null;
    if (moved) return;
    const node = event.target.closest && event.target.closest("g.adm-node");
    if (node) select(node.dataset.key);
    else clear();
  };
  view.addEventListener("wheel", onWheel, { passive: false });
  view.addEventListener("pointerdown", onDown);
  window.addEventListener("pointermove", onMove);
  window.addEventListener("pointerup", onUp);
  const onSvg = () => draw();
  model.on("change:svg", onSvg);
  draw();
  return () => {
    resized.disconnect();
    model.off("change:svg", onSvg);
    window.removeEventListener("pointermove", onMove);
    window.removeEventListener("pointerup", onUp);
  };
}

export default { render };
"""

CSS = r""".adm-gp { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 12px; max-width: 100%; }
.adm-gp-bar { display: flex; gap: 4px; align-items: center; margin: 2px 0 4px 0; }
.adm-gp-button { font-size: 12px; min-width: 26px; padding: 1px 6px; cursor: pointer; background: #f3f4f6;
  border: 1px solid #d1d5db; border-radius: 4px; color: #111827; }
.adm-gp-hint { color: #6b7280; margin-left: 8px; }
.adm-gp-view { border: 1px solid #e5e7eb; border-radius: 6px; background: #ffffff; overflow: hidden;
  cursor: grab; user-select: none; touch-action: none; }
.adm-gp-view g.adm-node { cursor: pointer; }
.adm-gp-view g.adm-node:hover rect { stroke-width: 2; }
.adm-gp-focus g.adm-node, .adm-gp-focus g.adm-edge { opacity: 0.35; }
.adm-gp-focus g.adm-node.adm-sel, .adm-gp-focus g.adm-node.adm-input, .adm-gp-focus g.adm-node.adm-user,
.adm-gp-focus g.adm-edge.adm-hl { opacity: 1; }
.adm-gp-view g.adm-sel rect { stroke: #f59e0b; stroke-width: 3; }
.adm-gp-view g.adm-input rect { stroke: #2563eb; stroke-width: 2.5; }
.adm-gp-view g.adm-user rect { stroke: #16a34a; stroke-width: 2.5; }
.adm-gp-view g.adm-hl path { stroke: #f59e0b; stroke-width: 2.2; }
.adm-gp-details { margin-top: 4px; }
.adm-gp-title { font-weight: bold; margin: 2px 0; }
.adm-gp-details table { border-collapse: collapse; }
.adm-gp-details th { text-align: left; color: #6b7280; font-weight: normal; padding: 1px 10px 1px 0; vertical-align: top; }
.adm-gp-details td { font-family: var(--jp-code-font-family, monospace); padding: 1px 0; }
"""
