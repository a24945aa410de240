"""demo.ipynb in JupyterLab, in a real Chromium: what a student sees when running the notebook.

A private JupyterLab (127.0.0.1, no token, every Jupyter and IPython folder temporary) serves a
copy of the demo; headless Chromium, driven by Playwright, opens it, runs all cells, checks that
every widget renders and that no error appears (in the outputs, in the page's JavaScript, or in
the kernel, where errors raised inside widget callbacks go), then clicks through the graph tree.

Needs /usr/bin/chromium (Debian's package; Playwright's own browser download is never used):
``apt-get install -y chromium``. Without it the test is skipped, unless
``AUTODIFF_MAGICS_REQUIRE_BROWSER=1`` (CI) makes that a failure. Screenshots go to a temporary
folder; ``AUTODIFF_MAGICS_SCREENSHOTS=docs`` also writes the README's pictures there
(``scripts/screenshots.py`` does that).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from .jupyter_env import DEMO, KERNEL_NAME, REPO, descendants, jupyter_env, magic_cells, pids_with_env, stop_pids

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AUTODIFF_MAGICS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
#: what ipywidgets' renderer writes when a widget cannot be shown
WIDGET_FAILURES = ("Error displaying widget", "Failed to load model class", "Could not create a model", "Model not found")
VIEWPORT = {"width": 1280, "height": 900}


def _missing() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found"
    for module, package in [("playwright", "playwright"), ("jupyterlab", "jupyterlab")]:
        if importlib.util.find_spec(module) is None:
            return f"the Python package {package} is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def needs_browser():
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("AUTODIFF_MAGICS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (AUTODIFF_MAGICS_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(
        f"browser test skipped: {reason}. To run it: apt-get install -y chromium (as root), "
        "pip install -e '.[test]' (never `playwright install`: Debian's /usr/bin/chromium is used); "
        "set AUTODIFF_MAGICS_REQUIRE_BROWSER=1 to make a missing browser a failure."
    )


# -- JupyterLab ------------------------------------------------------------------------------------

LAB_SETTINGS = {
    # every cell in the page (JupyterLab renders only visible ones by default), every output shown
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none", "maxNumberOutputs": 10000, "scrollPastEnd": False,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


@pytest.fixture(scope="module")
def lab(needs_browser, tmp_path_factory):
    """A private JupyterLab serving a copy of demo.ipynb; stopped (and its kernels) afterwards."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    env = jupyter_env(tmp)
    for name, value in LAB_SETTINGS.items():
        path = tmp / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    nb = nbformat.read(DEMO, as_version=4)
    # this Python as the kernel, whatever kernels the machine has
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "autodiff-magics tests", "language": "python"}
    nbformat.write(nb, root / "demo.ipynb")
    log = open(tmp / "jupyterlab.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
            "--IdentityProvider.token=", "--ServerApp.disable_check_xsrf=True",
            "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly",
            "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        ],
        cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = _wait_for_server(server, tmp, log_path=tmp / "jupyterlab.log")
        yield {"base": base, "tmp": tmp, "root": root, "nb": nb, "server": server.pid}
    finally:
        # kernels run in their own sessions: note them before the server goes
        kids = descendants(server.pid)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        stop_pids(kids)
        log.close()


def _wait_for_server(server: subprocess.Popen, tmp: Path, log_path: Path, timeout: float = 90) -> str:
    info = tmp / "runtime" / f"jpserver-{server.pid}.json"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        if info.exists():
            with contextlib.suppress(ValueError, OSError):
                data = json.loads(info.read_text())
                base = f"http://127.0.0.1:{data['port']}{data.get('base_url', '/')}".rstrip("/")
                with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                    with urllib.request.urlopen(base + "/api/status", timeout=2) as r:
                        if r.status == 200:
                            return base
        time.sleep(0.1)
    raise AssertionError(f"JupyterLab not ready after {timeout} s:\n{log_path.read_text()[-3000:]}")


# -- the browser -----------------------------------------------------------------------------------

PANEL_JS = """() => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w && w.content && w.sessionContext && w.context && w.context.path === 'demo.ipynb') return w;
  }
  return null;
}"""

HOOK_JS = f"""() => {{
  const panel = ({PANEL_JS})();
  window.__adm = {{errors: [], count: 0, last: Date.now()}};
  panel.sessionContext.iopubMessage.connect((_, msg) => {{
    window.__adm.count += 1;
    window.__adm.last = Date.now();
    if (msg.header.msg_type === 'error') {{
      window.__adm.errors.push({{parent: (msg.parent_header || {{}}).msg_type || '',
                                ename: msg.content.ename, evalue: msg.content.evalue}});
    }}
  }});
  return true;
}}"""

READY_JS = f"""() => {{
  const panel = ({PANEL_JS})();
  if (!panel || !panel.context.isReady || !panel.node.querySelector('.jp-Cell')) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}}"""

#: every code cell has run, the kernel is idle, no widget is still loading, and nothing moved
DONE_JS = f"""([codeCells, quietMs]) => {{
  const panel = ({PANEL_JS})();
  const kernel = panel.sessionContext.session.kernel;
  if (kernel.status !== 'idle') return false;
  const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
  if (prompts.length !== codeCells || !prompts.every(t => /\\[\\d+\\]/.test(t))) return false;
  if (panel.node.innerText.includes('Loading widget')) return false;
  return Date.now() - window.__adm.last > quietMs && Date.now() - window.__admMutation > quietMs;
}}"""

#: what DONE_JS waits for, to say why it did not come
STATE_JS = f"""() => {{
  const panel = ({PANEL_JS})();
  const kernel = panel.sessionContext.session.kernel;
  const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
  return {{kernel: kernel.status, prompts: prompts.join(' '), loading: panel.node.innerText.includes('Loading widget'),
          iopubAgoMs: Date.now() - window.__adm.last, domAgoMs: Date.now() - window.__admMutation}};
}}"""
RUN_TIMEOUT_MS = int(float(os.environ.get("AUTODIFF_MAGICS_RUN_TIMEOUT", "300")) * 1000)

INIT_JS = """
window.__admMutation = Date.now();
new MutationObserver(() => { window.__admMutation = Date.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""

SETTLED_JS = f"""(quietMs) => {{
  const panel = ({PANEL_JS})();
  const kernel = panel.sessionContext.session.kernel;
  return kernel.status === 'idle' && Date.now() - window.__adm.last > quietMs
         && Date.now() - window.__admMutation > quietMs;
}}"""


@pytest.fixture(scope="module")
def page(lab):
    """The demo open in Chromium, after Run All; records page errors, console errors and
    kernel errors in ``page.adm``."""
    from playwright.sync_api import sync_playwright

    tmp = lab["tmp"]
    records = {"page_errors": [], "console_errors": [], "blocked": []}
    # every process of this browser carries the marker, even those that leave its process tree
    # (Chromium's crash handler daemonizes): found by it, they are stopped by id afterwards
    marker = {"AUTODIFF_MAGICS_TEST_BROWSER": f"{os.getpid()}-{time.monotonic_ns()}"}
    pw = sync_playwright().start()
    ctx = None
    try:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport=VIEWPORT, device_scale_factor=1, timeout=60_000, env=dict(os.environ, **marker),
        )
        ctx.set_default_timeout(30_000)

        def only_loopback(route):
            url = route.request.url
            if url.startswith(("data:", "blob:")) or re.match(r"^(https?|wss?)://127\.0\.0\.1[:/]", url):
                route.continue_()
            else:
                records["blocked"].append(url)
                route.abort()

        ctx.route("**/*", only_loopback)
        p = ctx.pages[0] if ctx.pages else ctx.new_page()
        p.add_init_script(INIT_JS)
        p.on("pageerror", lambda e: records["page_errors"].append(str(e)))
        p.on("console", lambda m: records["console_errors"].append(m.text) if m.type == "error" else None)
        p.goto(f"{lab['base']}/lab/tree/demo.ipynb?reset", wait_until="domcontentloaded", timeout=90_000)
        p.wait_for_function(READY_JS, timeout=120_000, polling=200)
        p.evaluate(HOOK_JS)
        p.evaluate("() => { window.jupyterapp.shell.collapseLeft(); window.jupyterapp.shell.collapseRight(); }")
        kernel = p.evaluate(f"() => ({PANEL_JS})().sessionContext.session.kernel.name")
        assert kernel == KERNEL_NAME
        code_cells = sum(1 for c in lab["nb"].cells if c.cell_type == "code")
        started = time.monotonic()
        p.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            p.wait_for_function(DONE_JS, arg=[code_cells, 800], timeout=RUN_TIMEOUT_MS, polling=200)
        except Exception as e:
            raise AssertionError(f"Run All did not finish: {p.evaluate(STATE_JS)}") from e
        records["run_all_seconds"] = time.monotonic() - started
        p.adm = records
        yield p
    finally:
        if ctx is not None:
            with contextlib.suppress(Exception):
                ctx.close()
        pw.stop()
        # Chromium and Playwright's driver normally exit with it; stop any that did not, by id
        server_tree = {lab["server"], *descendants(lab["server"])}
        stop_pids([pid for pid in descendants(os.getpid()) if pid not in server_tree])
        end = time.monotonic() + 5
        while pids_with_env(marker) and time.monotonic() < end:
            time.sleep(0.1)
        stop_pids(pids_with_env(marker))


def cell(page, index: int):
    return page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)


def settle(page, quiet_ms: int = 600, timeout_ms: int = 30_000) -> None:
    page.wait_for_timeout(100)
    page.wait_for_function(SETTLED_JS, arg=quiet_ms, timeout=timeout_ms, polling=100)


def index_of(nb, needle: str) -> int:
    found = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and needle in c.source]
    assert len(found) == 1, needle
    return found[0]


ROOT_ROW = re.compile(r"^\s*[▸▾] #1 ")


def row(scope, number: int):
    """The graph tree's row button for node #number."""
    return scope.locator("button").filter(has_text=re.compile(rf"^\s*[▸▾] (\[level \d+\] )?#{number} "))


# -- screenshots ----------------------------------------------------------------------------------

#: JupyterLab scrolls inside its own panel: grow the window to the notebook's height so that an
#: element anywhere in it can be photographed as laid out
CONTENT_HEIGHT_JS = f"""() => {{
  const panel = ({PANEL_JS})();
  const scroller = panel.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
  const cells = panel.node.querySelectorAll('.jp-Cell');
  const last = cells[cells.length - 1].getBoundingClientRect().bottom;
  const content = last - scroller.getBoundingClientRect().top + scroller.scrollTop;
  scroller.scrollTop = 0;
  return Math.ceil(content + window.innerHeight - scroller.clientHeight + 40);
}}"""


#: the box around what an element shows (its visible descendants), inside the element's own box
CONTENT_BOX_JS = """e => {
  const own = e.getBoundingClientRect();
  let right = own.left + 1, bottom = own.top + 1;
  for (const c of e.querySelectorAll('*')) {
    const r = c.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) { right = Math.max(right, r.right); bottom = Math.max(bottom, r.bottom); }
  }
  right = Math.min(right, own.right); bottom = Math.min(bottom, own.bottom);
  return {x: Math.max(0, own.left - 2), y: Math.max(0, own.top - 2),
          width: Math.ceil(right - own.left + 4), height: Math.ceil(bottom - own.top + 4)};
}"""


@pytest.fixture(scope="module")
def shoot(page, tmp_path_factory):
    """``shoot(name, locator)`` saves a PNG of that element into a temporary folder, and into
    $AUTODIFF_MAGICS_SCREENSHOTS (relative to the repository) when set; returns the paths."""
    out = tmp_path_factory.mktemp("screenshots")
    extra = os.environ.get("AUTODIFF_MAGICS_SCREENSHOTS")
    folders = [out] + ([Path(extra) if Path(extra).is_absolute() else REPO / extra] if extra else [])

    def take(name: str, locator) -> list[Path]:
        height = min(max(VIEWPORT["height"], page.evaluate(CONTENT_HEIGHT_JS)), 30_000)
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(300)  # JupyterLab lays out again after a resize
        page.evaluate(CONTENT_HEIGHT_JS)  # and scrolls its panel back to the top
        page.mouse.move(0, 0)  # no hover colour, no focus ring on the last button clicked
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        # as wide as its content, not as the page: smaller pictures, no empty margin
        before = locator.evaluate("e => { const w = e.style.width; e.style.width = 'fit-content'; return w; }")
        page.wait_for_timeout(100)
        box = locator.evaluate(CONTENT_BOX_JS)
        paths = []
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / name), clip=box, animations="disabled")
            paths.append(folder / name)
        locator.evaluate("(e, w) => { e.style.width = w; }", before)
        assert box and box["width"] > 100 and box["height"] > 40, f"{name}: {box}"
        take.taken[name] = paths
        return paths

    take.taken = {}
    yield take
    print(f"\nscreenshots: {', '.join(str(p) for paths in take.taken.values() for p in paths)}")


def widget_of(scope):
    """The widget an output shows (its outermost ipywidgets element)."""
    return scope.locator(".jp-OutputArea-output .jupyter-widgets").first


# -- the tests (in order: they share one page) -----------------------------------------------------


def test_run_all_shows_no_error(page, lab):
    outputs = page.locator(".jp-NotebookPanel .jp-OutputArea-output")
    texts = outputs.all_inner_texts()
    assert len(texts) >= 20, "outputs missing"
    for failure in WIDGET_FAILURES:
        assert not [t for t in texts if failure in t], failure
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert stderr.count() == 0, stderr.all_inner_texts()
    assert not [t for t in texts if "Traceback" in t or "UsageError" in t]
    assert page.evaluate("window.__adm.errors") == []
    assert page.adm["page_errors"] == []
    assert page.adm["console_errors"] == []
    assert page.adm["blocked"] == []
    print(f"\nRun All until every widget showed: {page.adm['run_all_seconds']:.1f} s")


def test_every_magic_renders_as_a_widget(page, lab, shoot):
    nb = lab["nb"]
    cells = magic_cells(nb)
    assert len(cells) >= 10
    for index, magic in cells:
        out = cell(page, index).locator(".jp-OutputArea-output")
        widget = widget_of(cell(page, index))
        assert widget.count() == 1, f"cell {index} ({magic}) shows no widget: {out.all_inner_texts()}"
        assert widget.is_visible()
        text = " ".join(out.all_inner_texts())
        assert len(text.strip()) > 20, f"cell {index} ({magic}): {text!r}"
        assert "VBox(" not in text and "<autodiff_magics." not in text
    for name, needle in [
        ("tensorinfo.png", "%tensorinfo torch.ones(3, 4, 5)"),
        ("tensorinfo_values.png", "%tensorinfo z"),
        ("alias_check.png", "%alias_check x y y_copy"),
        ("alias_cell.png", "x.mul_(2)"),
        ("device.png", "%device"),
        ("gradient.png", "--expect [3, -8, 144]"),
    ]:
        shoot(name, widget_of(cell(page, index_of(nb, needle))))


def picture_of(scope):
    """The graph picture widget (anywidget) of an output."""
    return scope.locator(".adm-gp").first


def box_texts(picture) -> list[str]:
    return picture.locator("svg text").all_text_contents()


def node_box(picture, number: int):
    return picture.locator(f'g.adm-node[data-node="{number}"]')


def open_tree(page, scope) -> None:
    """Open the graph report's tree view (a closed accordion under the picture)."""
    scope.get_by_text(re.compile(r"^tree view: every node")).first.click()
    settle(page)


def test_graph_of_f2_draws_as_a_picture_with_classes_and_gradients(page, lab, shoot):
    """The graph of the --expect cell's run: every box and arrow label readable without a click."""
    scope = cell(page, index_of(lab["nb"], "--expect [3, -8, 144]"))
    picture = picture_of(scope)
    assert picture.is_visible()
    svg = picture.locator("svg.adm-graph-svg")
    assert svg.count() == 1 and svg.get_attribute("data-nodes") == "13"  # the state (the SVG) reached the browser
    assert picture.locator("g.adm-node").count() == 13 and picture.locator("g.adm-edge").count() == 15
    texts = box_texts(picture)
    for text in ("#12 pow · PowBackward0", "#11 mul · MulBackward0", "grad 5", "135", "[0, 0, 135]",
                 "#6 x · leaf · AccumulateGrad", "x.grad = sum of its 4 edges = [9, -8, 138]"):
        assert text in texts, text
    box = node_box(picture, 12).bounding_box()
    assert box and box["width"] > 80 and box["height"] > 20  # drawn, with a size, on screen
    shoot("graph_picture.png", picture)


def test_a_click_on_a_box_highlights_its_neighbours_and_opens_its_details(page, lab, shoot):
    scope = cell(page, index_of(lab["nb"], "--expect [3, -8, 144]"))
    picture = picture_of(scope)
    node_box(picture, 12).click()
    settle(page)
    assert "adm-sel" in node_box(picture, 12).get_attribute("class")
    assert "adm-input" in node_box(picture, 13).get_attribute("class")  # what #12 passes gradient to
    assert "adm-user" in node_box(picture, 11).get_attribute("class")  # what uses #12's value
    assert "adm-sel" not in (node_box(picture, 2).get_attribute("class") or "")
    assert picture.locator("g.adm-edge.adm-hl").count() == 2
    details = picture.locator(".adm-gp-details")
    assert details.is_visible()
    text = details.inner_text()
    assert "#12 pow · PowBackward0" in text and re.search(r"saved exponent\s+3\b", text)
    assert re.search(r"gradient received\s+5", text) and re.search(r"passed to #13\s+135", text)
    assert page.evaluate("window.__adm.errors") == []
    shoot("graph_picture_selected.png", picture)
    node_box(picture, 6).click()  # the leaf: its four users light up
    settle(page)
    assert picture.locator("g.adm-node.adm-user").count() == 4
    picture.locator("svg").click(position={"x": 5, "y": 5})  # the background: nothing selected
    settle(page)
    assert picture.locator(".adm-sel").count() == 0 and details.inner_text().strip() == ""


def test_the_picture_zooms_and_pans(page, lab):
    scope = cell(page, index_of(lab["nb"], "--expect [3, -8, 144]"))
    picture = picture_of(scope)
    svg = picture.locator("svg")
    before = svg.get_attribute("viewBox")
    picture.get_by_role("button", name="+").click()
    zoomed = svg.get_attribute("viewBox")
    assert float(zoomed.split()[2]) < float(before.split()[2])
    box = svg.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 60, steps=4)
    page.mouse.up()
    panned = svg.get_attribute("viewBox")
    assert panned.split()[:2] != zoomed.split()[:2] and panned.split()[2:] == zoomed.split()[2:]
    picture.get_by_role("button", name="fit").click()
    assert svg.get_attribute("viewBox") == svg.get_attribute("data-full")  # the whole picture
    assert before == svg.get_attribute("data-full")  # f2's picture fits: it started whole


def test_the_mlp_draws_with_its_parameters_named(page, lab, shoot):
    scope = cell(page, index_of(lab["nb"], "torch.nn.Sequential"))
    picture = picture_of(scope)
    assert picture.is_visible()
    texts = box_texts(picture)
    for name in ("model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"):
        assert any(t.endswith(f"{name} · leaf · AccumulateGrad") for t in texts), name
    assert any("mse_loss · MseLossBackward0" in t for t in texts) and any("relu · ReluBackward0" in t for t in texts)
    node_box(picture, 1).click()
    settle(page)
    assert "reduction" in picture.locator(".adm-gp-details").inner_text()
    assert re.search(r"saved reduction\s+mean", picture.locator(".adm-gp-details").inner_text())
    picture.locator("svg").click(position={"x": 5, "y": 5})
    settle(page)
    assert page.evaluate("window.__adm.errors") == []
    shoot("graph_mlp.png", picture)


def test_graph_opens_and_closes_by_click(page, lab, shoot):
    """The tree view of the graph of f2 in the --expect cell: click the root closed and open, then open a child."""
    scope = cell(page, index_of(lab["nb"], "--expect [3, -8, 144]"))
    root = row(scope, 1)
    assert root.count() == 0  # the tree view starts closed, under the picture, and is built when opened
    open_tree(page, scope)
    assert root.is_visible() and root.inner_text().lstrip().startswith("▾")  # opens with its children shown
    assert row(scope, 2).is_visible() and row(scope, 11).is_visible()
    assert "AddBackward0" in root.inner_text()  # the grad_fn class on every row

    root.click()
    settle(page)
    assert root.inner_text().lstrip().startswith("▸")
    assert row(scope, 2).count() == 0 and row(scope, 11).count() == 0

    root.click()
    settle(page)
    assert root.inner_text().lstrip().startswith("▾")
    assert row(scope, 2).is_visible() and row(scope, 11).is_visible()
    assert row(scope, 12).count() == 0  # a grandchild: not built until its parent opens

    row(scope, 11).click()  # 5*x₂³: its details and its input, the PowBackward0
    settle(page)
    pow_row = row(scope, 12)
    assert pow_row.is_visible()
    assert "#12 pow · PowBackward0" in pow_row.inner_text() and "5 → 135" in pow_row.inner_text()
    pow_row.click()
    settle(page)
    assert re.search(r"saved exponent\W+3\b", scope.inner_text())  # its details: what it saved
    assert page.evaluate("window.__adm.errors") == []
    # the tree widget: the innermost box that holds both the header and the rows
    tree = scope.locator(".widget-vbox").filter(has=page.locator("button").filter(has_text=ROOT_ROW)).filter(has_text="grad_fn graph")
    shoot("graph.png", tree.last)


def test_same_as_link_reveals_the_shared_leaf(page, lab):
    scope = cell(page, index_of(lab["nb"], "--expect [3, -8, 144]"))
    row(scope, 13).click()  # x[2], under the PowBackward0 opened above: its input is x, met before
    settle(page)
    assert row(scope, 6).count() == 0  # the leaf's own row is inside #2, which is closed
    link = scope.locator("button").filter(has_text="same as #6")
    assert link.count() == 1 and link.is_visible()
    link.click()
    settle(page)
    leaf = row(scope, 6)
    assert leaf.is_visible() and "x (leaf)" in leaf.inner_text()
    assert page.evaluate("window.__adm.errors") == []


def test_study_opens_in_its_accordion(page, lab, shoot):
    scope = cell(page, index_of(lab["nb"], "--study"))
    assert scope.locator("svg polyline").count() == 0  # built on first opening
    scope.get_by_text("Step-size study", exact=True).click()
    settle(page)
    assert scope.locator("svg polyline").count() == 2  # forward and central
    assert page.evaluate("window.__adm.errors") == []
    shoot("study.png", scope.locator("svg[aria-label='error against step size']"))


def test_tensorinfo_graph_of_f2_opens_by_click(page, lab, shoot):
    scope = cell(page, index_of(lab["nb"], "%tensorinfo f2"))
    assert row(scope, 1).count() == 0  # the graph is built when its section first opens
    scope.get_by_text("autograd graph of f2", exact=True).click()
    settle(page)
    assert picture_of(scope).is_visible() and "#12 pow · PowBackward0" in box_texts(picture_of(scope))
    root = row(scope, 1)
    open_tree(page, scope)
    assert root.count() == 1 and root.is_visible()
    if root.inner_text().lstrip().startswith("▾"):
        root.click()
        settle(page)
    assert row(scope, 2).count() == 0
    root.click()  # expand the root: its children appear
    settle(page)
    assert root.inner_text().lstrip().startswith("▾")
    assert row(scope, 2).is_visible() and row(scope, 11).is_visible()
    assert page.evaluate("window.__adm.errors") == []
    shoot("tensorinfo_graph.png", widget_of(scope))
    assert page.adm["page_errors"] == [] and page.adm["console_errors"] == []
