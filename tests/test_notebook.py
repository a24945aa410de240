"""demo.ipynb in a real Jupyter kernel (nbclient), and its static HTML export (nbconvert).

The kernel is this test run's own Python, through a kernelspec in a temporary folder (see
``jupyter_env``), so the test needs no kernel installed on the machine.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest
from nbclient import NotebookClient

from .jupyter_env import DEMO, KERNEL_NAME, MAGIC_PREFIXES, WIDGET_MIME, jupyter_env, magic_cells

#: text that must never reach a reader: widget and object reprs
RAW_REPRS = re.compile(r"VBox\(|HBox\(|Accordion\(|<autodiff_magics\.|object at 0x[0-9a-f]+")


def execute(nb, tmp_path_factory, name: str):
    """Run ``nb`` in place in a fresh kernel of this Python; return the client (widget state kept)."""
    tmp = tmp_path_factory.mktemp(name)
    work = tmp / "work"
    work.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in jupyter_env(tmp).items():
            mp.setenv(key, value)
        client = NotebookClient(
            nb,
            kernel_name=KERNEL_NAME,
            timeout=300,
            allow_errors=True,
            store_widget_state=True,
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()
    return client


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """demo.ipynb, executed top to bottom."""
    nb = nbformat.read(DEMO, as_version=4)
    execute(nb, tmp_path_factory, "demo")
    return nb


def outputs_of(nb, index: int) -> list:
    return nb.cells[index].get("outputs", [])


def text_of(nb, index: int) -> str:
    """All text a reader sees of a cell: streams and text/plain of results."""
    parts = []
    for out in outputs_of(nb, index):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


def numbers(text: str, label: str) -> list[float]:
    """The numbers of a printed NumPy array that follows ``label``."""
    match = re.fullmatch(rf"{re.escape(label)}\s*\[([^\]]*)\]\s*", text)
    assert match, text
    return [float(v) for v in match.group(1).split()]


def cell_index(nb, needle: str) -> int:
    """The index of the one code cell whose source contains ``needle``."""
    found = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and needle in c.source]
    assert len(found) == 1, f"{len(found)} code cells contain {needle!r}"
    return found[0]


# -- the stored notebook ---------------------------------------------------------------------------


def test_demo_is_stored_without_outputs_and_uses_every_magic():
    nb = nbformat.read(DEMO, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata
    assert code[0].source.startswith("%load_ext autodiff_magics")
    used = {magic for _, magic in magic_cells(nb)}
    assert used == set(MAGIC_PREFIXES)


# -- the executed notebook -------------------------------------------------------------------------


def test_demo_runs_clean(demo):
    problems = []
    for i, cell in enumerate(demo.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"cell {i}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                problems.append(f"cell {i} wrote to stderr: {out.text[:300]}")
    assert not problems, "\n".join(problems)
    code = [c for c in demo.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))


def test_every_magic_output_carries_a_widget_view_and_readable_text(demo):
    state = demo.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    cells = magic_cells(demo)
    assert len(cells) >= 10
    for index, magic in cells:
        results = [o for o in outputs_of(demo, index) if o.output_type == "execute_result"]
        assert len(results) == 1, f"cell {index} ({magic}): {len(results)} results"
        data = results[0].data
        assert {"text/plain", "text/html", WIDGET_MIME} <= set(data), f"cell {index} ({magic}): {sorted(data)}"
        plain = data["text/plain"]
        assert len(plain.strip().splitlines()) >= 2, f"cell {index} ({magic}): {plain!r}"
        assert not RAW_REPRS.search(plain), f"cell {index} ({magic}) text/plain: {plain[:300]}"
        assert not RAW_REPRS.search(data["text/html"]), f"cell {index} ({magic}) html"
        assert 'class="adm' in data["text/html"]
        # the widget was really built in the kernel and its state reached the client
        model_id = data[WIDGET_MIME]["model_id"]
        assert model_id in state, f"cell {index} ({magic}): widget model {model_id} has no state"
        assert state[model_id]["model_name"].endswith("Model")


def test_demo_tells_the_lesson(demo):
    """What each section shows, as numbers and plain words a reader sees."""
    first = text_of(demo, cell_index(demo, "%tensorinfo x y"))
    assert "vector of 3" in first and "matrix of 2 rows × 3 columns" in first
    shapes = text_of(demo, cell_index(demo, "%tensorinfo torch.ones(3, 4, 5)"))
    assert "3 matrices of 4 rows × 5 columns" in shapes
    assert "2 groups of 3 matrices of 4 × 5" in shapes

    values = text_of(demo, cell_index(demo, "%tensorinfo z"))
    assert "matrix of 4 rows × 6 columns" in values and "histogram" in values

    slip = text_of(demo, cell_index(demo, "%tensorinfo a.size"))
    assert "<built-in method size of Tensor object" in slip  # the lesson's print, kept as is
    assert "a.size is a method" in slip and "a.size()" in slip
    assert "item()    -5.3" in slip  # the report is of the tensor a

    copies = text_of(demo, cell_index(demo, "%alias_check x y y_copy"))
    assert re.search(r"^x\s+y\s+SHARED\s+the same memory\s+24 B$", copies, re.M), copies
    assert re.search(r"^x\s+y_copy\s+independent", copies, re.M)
    assert re.search(r"^y\s+y_copy\s+independent", copies, re.M)

    changed = text_of(demo, cell_index(demo, "x.mul_(2)"))
    assert "1 variable changed silently" in changed
    assert re.search(r"! y changed: .* through x", changed)
    assert re.search(r"^unchanged: .*\by_copy\b", changed, re.M)

    numpy_copies = text_of(demo, cell_index(demo, "%alias_check z zt zc"))
    assert re.search(r"^z\s+zt\s+SHARED", numpy_copies, re.M)
    assert re.search(r"^z\s+zc\s+independent", numpy_copies, re.M)

    assert "cpu" in text_of(demo, cell_index(demo, "%device"))
    assert text_of(demo, cell_index(demo, 'dev = "cuda"')).strip() == "tensor(48.)"

    sin = text_of(demo, cell_index(demo, "sin(2*x)"))
    assert "1.50780450869" in sin and "All 4 methods agree" in sin

    study = text_of(demo, cell_index(demo, "--study"))
    assert "Step-size study" in study and "central used h" in study

    numpy_slip = text_of(demo, cell_index(demo, 'print("lesson:"'))
    assert numbers(numpy_slip, "lesson:") == pytest.approx([3, -8, 144], abs=1e-6)
    fixed = text_of(demo, cell_index(demo, 'print("fixed: "'))
    assert numbers(fixed, "fixed:") == pytest.approx([9, -8, 138], abs=1e-6)

    caught = text_of(demo, cell_index(demo, "--expect [3, -8, 144]"))
    assert "expect disagrees with symbolic at x[0], x[2]" in caught
    assert "3 ✗" in caught and "144 ✗" in caught

    graph = text_of(demo, cell_index(demo, "%tensorinfo f2"))
    assert re.search(r"grad_fn graph of f2: \d+ nodes .*leaf: x0", graph)
    assert "#1 add · AddBackward0" in graph and graph.count("↪ same as #6 x0 (leaf)") == 3

    after = text_of(demo, cell_index(demo, "f2.backward()"))
    assert after.startswith("tensor([  9.,  -8., 138.])")
    assert "self=freed" in after and "saved values were freed" in after

    item = text_of(demo, cell_index(demo, "x * x.item()"))
    assert "autograd disagrees with symbolic" in item and ".item()" in item


# -- the widgets setting, end to end ---------------------------------------------------------------


def test_widgets_setting_turns_the_widget_view_off_and_on(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    sources = [
        "%load_ext autodiff_magics",
        "%config AutodiffMagics.widgets = False",
        "%%gradient x=3.5\nsin(2*x)",
        "%device",
        "%config AutodiffMagics.widgets = True",
        "%%gradient x=3.5\nsin(2*x)",
    ]
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    execute(nb, tmp_path_factory, "setting")
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    for index, widget in [(2, False), (3, False), (5, True)]:
        (result,) = [o for o in nb.cells[index].outputs if o.output_type == "execute_result"]
        assert {"text/plain", "text/html"} <= set(result.data)
        assert (WIDGET_MIME in result.data) is widget, f"cell {index}: {sorted(result.data)}"
    assert nb.cells[2].outputs[0].data["text/html"].count("<table") >= 1


# -- the static HTML export ------------------------------------------------------------------------


def test_html_export_shows_the_static_views(demo):
    """Without saved widget state (JupyterLab saves none by default) nbconvert shows text/html."""
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(demo)
    nb.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(nb)
    for index, magic in magic_cells(demo):
        (result,) = [o for o in outputs_of(demo, index) if o.output_type == "execute_result"]
        html = result.data["text/html"]
        # a distinctive piece of the report's own HTML is in the page as HTML, not as text
        snippet = re.search(r"<h4>[^<]{8,}</h4>|<table>.{40}", html, re.S)
        assert snippet, f"cell {index} ({magic}) html has no heading or table"
        assert snippet.group(0) in body, f"cell {index} ({magic}): static view missing from the export"
    assert WIDGET_MIME not in body
    assert not re.search(r"VBox\(|HBox\(|<autodiff_magics\.", body)
    assert "<details" in body  # the graph trees, as nested details


def test_html_export_escapes_user_text(tmp_path_factory):
    """User text in a report stays text in the exported page (no script runs)."""
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext autodiff_magics\nimport torch"),
        nbformat.v4.new_code_cell(
            "def forward(ctx, x):\n"
            "    return x * 2\n"
            "def backward(ctx, g):\n"
            "    return g * 2\n"
            "# autograd names the node class after the Function's class name\n"
            "Evil = type('<script>alert(\"adm-xss\")</script>', (torch.autograd.Function,),\n"
            "            {'forward': staticmethod(forward), 'backward': staticmethod(backward)})"
        ),
        nbformat.v4.new_code_cell("%%gradient x=[1., 2.]\nEvil.apply(x).sum()"),
    ]
    execute(nb, tmp_path_factory, "escape")
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    html = nb.cells[2].outputs[0].data["text/html"]
    assert "&lt;script&gt;alert(&quot;adm-xss&quot;)&lt;/script&gt;" in html
    nb.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert '<script>alert("adm-xss")' not in body
    # nbconvert re-serialises the output's HTML: quotes may come back unescaped, markup stays text
    summary = re.search(r"<summary>.*?(&lt;script&gt;alert\((&quot;|\")adm-xss)", body)
    assert summary, "the custom Function's name is shown, escaped, in the exported graph"


# -- the picture in the static export ----------------------------------------------------------------


def exported(demo) -> str:
    """The demo as nbconvert's HTML, without widget state (as JupyterLab saves it by default)."""
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(demo)
    nb.metadata.pop("widgets", None)
    return HTMLExporter().from_notebook_node(nb)[0]


def svg_of(demo, body: str, needle: str) -> str:
    """The inline SVG picture of the cell containing ``needle``, as it is in the exported page."""
    (result,) = [o for o in outputs_of(demo, cell_index(demo, needle)) if o.output_type == "execute_result"]
    svgs = re.findall(r"<svg[^>]*class=\"adm-graph-svg\".*?</svg>", result.data["text/html"], re.S)
    assert len(svgs) == 1, f"{needle!r}: {len(svgs)} pictures"
    # the same picture is in the export (nbconvert may re-serialise attributes: compare box texts)
    boxes = re.findall(r"<text[^>]*>([^<]+)</text>", svgs[0])
    assert boxes and all(box in body for box in boxes[:40]), f"{needle!r}: the picture is not in the export"
    return svgs[0]


def test_html_export_shows_the_graphs_as_pictures(demo):
    body = exported(demo)
    assert body.count('class="adm-graph-svg"') >= 4  # f2 in %%gradient, grad_graph, %tensorinfo, after backward; the MLP

    flow = svg_of(demo, body, "--expect [3, -8, 144]")  # the graph of the magic's run, with the gradient
    assert flow.count('class="adm-node"') == 13 and 'data-nodes="13"' in flow
    assert "#12 pow · PowBackward0" in flow and "#6 x · leaf · AccumulateGrad" in flow
    assert re.search(r'<g class="adm-edge" data-source="12" data-target="13">.*?>135</text>', flow, re.S)
    assert ">grad 5</text>" in flow and "x.grad = sum of its 4 edges = [9, -8, 138]" in flow

    picture = svg_of(demo, body, "f2 = 3 * x0[0] * x0[2] - 2 * x0[1]**2 + 5 * x0[2]**3\nadm.grad_graph")
    assert picture.count('class="adm-node"') == 13 and "#1 add · AddBackward0" in picture
    assert "#6 x0 · leaf · AccumulateGrad" in picture

    mlp = svg_of(demo, body, "torch.nn.Sequential")
    for name in ("model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"):
        assert f"{name} · leaf · AccumulateGrad" in mlp
    assert "mse_loss · MseLossBackward0" in mlp and "relu · ReluBackward0" in mlp and "addmm · AddmmBackward0" in mlp


def test_html_export_picture_shows_what_each_node_computed(demo):
    flow = svg_of(demo, exported(demo), "--expect [3, -8, 144]")
    assert re.search(r">x(₂|\[2\]|_?2)\*\*3 = 27</text>", flow), "the pow box says x₂**3 = 27"
    assert re.search(r"= 135</text>", flow) and re.search(r"= 136</text>", flow)
