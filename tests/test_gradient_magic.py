"""%%gradient and the extension itself, driven through a real IPython InteractiveShell."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from IPython.core.error import UsageError

from autodiff_magics.gradient import GradientReport

from .conftest import run

F2 = "3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"


def _state(ip):
    """Everything a magic must leave as it found it."""
    ns = {k: v for k, v in ip.user_ns.items() if not k.startswith("_") and k not in ("In", "Out", "exit", "quit", "get_ipython")}
    tensors = {k: (v.detach().clone(), None if v.grad is None else v.grad.clone(), v.requires_grad, v._version)
               for k, v in ns.items() if isinstance(v, torch.Tensor)}
    return set(ns), tensors, torch.get_default_dtype(), torch.is_grad_enabled(), torch._C._len_torch_function_stack()


def _same_state(a, b) -> bool:
    names_a, tensors_a, *rest_a = a
    names_b, tensors_b, *rest_b = b
    if names_a != names_b or rest_a != rest_b or tensors_a.keys() != tensors_b.keys():
        return False
    for k in tensors_a:
        va, ga, ra, vera = tensors_a[k]
        vb, gb, rb, verb = tensors_b[k]
        if not torch.equal(va, vb) or ra != rb or vera != verb or (ga is None) != (gb is None):
            return False
        if ga is not None and not torch.equal(ga, gb):
            return False
    return True


def test_seed_f2_through_the_shell(ip):
    result, captured = run(ip, f"%%gradient x=[1., 2., 3.]\n{F2}")
    assert result.success
    r = ip.user_ns["_"]
    assert isinstance(r, GradientReport)
    assert r.gradient["x"].tolist() == [9.0, -8.0, 138.0] and r.agree
    text = captured.stdout
    assert "f = 136" in text and "All 4 methods agree" in text
    assert "∂f/∂x₂ = 3*x₀ + 15*x₂**2 = 138" in text
    assert "VBox" not in text and "Traceback" not in text


def test_seed_sin_and_the_slip_flagged_by_expect(ip):
    r = ip.run_cell_magic("gradient", "x=3.5", "sin(2*x)")
    assert float(r.gradient["x"]) == pytest.approx(1.5078045086866, abs=1e-12)
    r = ip.run_cell_magic("gradient", "x=[1., 2., 3.] --expect [3, -8, 144]", F2)
    assert [(d.method, d.index) for d in r.disagreements] == [("expect", (0,)), ("expect", (2,))]


def test_semicolon_hides_and_underscore_keeps(ip):
    result, captured = run(ip, f"%%gradient x=[1., 2., 3.]\n{F2};")
    assert result.success and captured.stdout == ""
    result, _ = run(ip, "r = _")
    assert isinstance(ip.user_ns["r"], GradientReport) and ip.user_ns["r"].value == 136.0
    # a ; inside a comment is not a trailing ;: the output shows
    result, captured = run(ip, "%%gradient x=2.\nx**2  # squared;")
    assert result.success and "f = 4" in captured.stdout


def test_cell_assignments_do_not_leak(ip):
    run(ip, "import torch\nw = torch.tensor([1.0, 2.0], requires_grad=True)")
    before = _state(ip)
    r = ip.run_cell_magic("gradient", "--wrt w", "y = w * 2\nz = 3\n(y**2).sum() + z")
    assert r.gradient["w"].tolist() == [8.0, 16.0]
    after = _state(ip)
    assert "y" not in ip.user_ns and "z" not in ip.user_ns
    assert _same_state(before, after)


def test_wrt_reads_the_users_variables_at_their_values(ip):
    run(ip, "import torch\nw = torch.tensor([1.0, -2.0], requires_grad=True)\nb = 0.5")
    w = ip.user_ns["w"]
    w.grad = torch.tensor([7.0, 7.0])
    before = _state(ip)
    r = ip.run_cell_magic("gradient", "--wrt w,b", "((w * b)**2).sum()")
    assert r.gradient["w"].tolist() == [0.5, -1.0] and float(r.gradient["b"]) == 5.0
    assert _same_state(before, _state(ip))
    assert w.grad.tolist() == [7.0, 7.0], "the user's .grad is never written"


def test_million_element_wrt_uses_the_directional_check(ip):
    ip.user_ns["w"] = torch.randn(10**6, generator=torch.Generator().manual_seed(1))
    before = _state(ip)
    r = ip.run_cell_magic("gradient", "--wrt w", "(sin(w) * w**2).sum()")
    assert r.methods["directional"].status == "ok"
    assert r.methods["symbolic"].status == "skipped"
    assert "1,000,000 scalars is above the symbolic limit of 64" in r.methods["symbolic"].reason
    # 4 per direction, and f's noise at the point: 6 evaluations at √ε·max(1, |wᵢ|) per element,
    # since the check's own step t = 2⁻²⁵ (|w| reaches 4.9) moves elements further than √ε = 2⁻²⁶
    assert r.methods["directional"].step == 2.0**-25 and r.methods["directional"].evaluations == 3 * 4 + 6
    assert r.agree, r.explanations
    assert _same_state(before, _state(ip))
    text = r.to_text()
    assert "Directional check" in text and "w[999999]" in text
    ip.user_ns["w"] = 0.1 * ip.user_ns["w"]  # max|w| < 1: t = 2⁻²⁷, and the first direction's ±t, ±2t serve the noise too
    small = ip.run_cell_magic("gradient", "--wrt w", "(sin(w) * w**2).sum()")
    assert small.methods["directional"].step == 2.0**-27 and small.methods["directional"].evaluations == 3 * 4 + 2
    assert small.agree, small.explanations


def test_options_are_documented_by_the_question_mark():
    from autodiff_magics.magics import AutodiffMagics

    doc = AutodiffMagics.gradient.__doc__
    for option in ("--wrt", "--methods", "--step", "--rtol", "--atol", "--dtype", "--expect", "--device", "--study"):
        assert option in doc


BAD = [
    ("", "x**2", "no variable to differentiate"),
    ("x=", "x**2", "expected NAME=EXPR, got 'x='"),
    ("x=undefined_name", "x**2", "could not evaluate 'undefined_name': NameError"),
    ("x=[1, 2", "x**2", "unbalanced bracket"),
    ("1x=3", "x**2", "'1x' is not a valid variable name"),
    ("x=3", "", "cell body is empty"),
    ("x=3", "   \n  ", "the cell is empty"),
    ("x=3", "y = x +", "syntax error on line 1: 'y = x +'"),
    ("x=3.", "y = 2\nz = x / y\nundefined + z", "line 3 of the cell ('undefined + z') raised NameError"),
    ("x=[1., 2.]", "x**2", "f must be a scalar, but the cell's last expression has shape (2,): reduce it, e.g. with .sum()"),
    ("x=[1., 2.]", "'abc'", "must be a number or a one-element tensor, but it is a str"),
    ("x=1+2j", "x**2", "x is complex"),
    ("x=[1., float('nan')]", "x.sum()", "x[1] is nan: differentiate at a finite point"),
    ("x=[1., float('inf')]", "x.sum()", "x[1] is infinite"),
    ("--wrt nope", "nope", "--wrt: no variable named 'nope'"),
    ("--wrt s", "s", "--wrt s is a str, not a number, list, array or tensor"),
    ("x=2. --methods autograd,foo", "x**2", "unknown method 'foo'"),
    ("x=2. --step 0", "x**2", "--step: must be a positive finite number, got 0"),
    ("x=2. --step -1e-3", "x**2", "--step: must be a positive finite number, got -1e-3"),
    ("x=2. --dtype int", "x**2", "invalid choice: 'int'"),
    ("x=2. x=3.", "x", "variable 'x' is given twice"),
    ("x=2. --bogus", "x", "unrecognized arguments: --bogus"),
    ("x=2. --device nowhere", "x", "'nowhere' is not a device name"),
]


@pytest.mark.parametrize(("line", "cell", "message"), BAD)
def test_bad_input_gets_one_sentence_and_changes_nothing(ip, line, cell, message):
    run(ip, "import torch\nw = torch.tensor([1.0, 2.0], requires_grad=True)\ns = 'hello'")
    before = _state(ip)
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("gradient", line, cell)
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip() or "syntax" in message
    assert _same_state(before, _state(ip))
    # and as the user sees it: one UsageError line, no traceback
    result, captured = run(ip, f"%%gradient {line}\n{cell}")
    assert isinstance(result.error_in_exec, UsageError)
    shown = captured.stdout + captured.stderr
    assert "Traceback" not in shown and "autodiff_magics" not in shown


def test_integer_point_note_and_non_tensor_code_through_the_shell(ip):
    r = ip.run_cell_magic("gradient", "x=3", "x**2")
    assert "x was given as an integer; promoted to float64" in r.notes
    r = ip.run_cell_magic("gradient", "x=[1., 2.]", "import numpy as np\nnp.sin(x).sum()")
    assert r.methods["autograd"].status == "failed" and "np.sin" in r.methods["autograd"].reason
    assert "np" not in ip.user_ns, "the cell's import stays in the cell"


def test_cut_graph_and_custom_function_through_the_shell(ip):
    run(ip, textwrap.dedent('''
        import torch
        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(a)
                return a * a
            @staticmethod
            def backward(ctx, g):
                (a,) = ctx.saved_tensors
                return g * a          # forgot the factor 2
    '''))
    r = ip.run_cell_magic("gradient", "x=[1., 3.]", "Square.apply(x).sum()")
    assert not r.agree and r.suspects == ["autograd"]
    assert any("Square" in e for e in r.explanations)
    r = ip.run_cell_magic("gradient", "x=2.", "x * x.item()")
    assert any(".item() on line 1" in e for e in r.explanations)


def test_the_magic_and_the_api_return_the_same_report(ip):
    import autodiff_magics as adm

    a = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2).to_dict()
    b = adm.gradient(F2, x=[1.0, 2.0, 3.0]).to_dict()
    for d in (a, b):
        for m in d["methods"].values():
            m.pop("seconds")
    assert a == b


def test_mime_bundle_offers_only_text_to_a_text_only_frontend(ip):
    r = ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2)
    saved = ip.display_formatter.active_types
    try:
        ip.display_formatter.active_types = ["text/plain"]
        data, _ = ip.display_formatter.format(r)
        assert set(data) == {"text/plain"}
        ip.display_formatter.active_types = saved
        data, _ = ip.display_formatter.format(r)
        assert {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"} <= set(data)
        ip.run_line_magic("config", "AutodiffMagics.widgets = False")
        data, _ = ip.display_formatter.format(r)
        assert "application/vnd.jupyter.widget-view+json" not in data and "text/html" in data
    finally:
        ip.display_formatter.active_types = saved
        ip.run_line_magic("config", "AutodiffMagics.widgets = True")


def test_html_escapes_user_text():
    import autodiff_magics as adm

    # the cell's warning reaches the report's notes: user text that must stay text in the HTML
    source = "import warnings\nwarnings.warn('<script>alert(1)</script>')\n(x**2).sum()"
    r = adm.gradient(source, x=[1.0])
    assert any("<script>alert(1)</script>" in n for n in r.notes)
    html = r.to_html()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_semicolon_right_after_a_line_magic_name_hides_its_output(ip, capsys):
    ip.user_ns["t_semi"] = torch.ones(3)
    for line in ("%device;", "%tensorinfo t_semi;", "  %alias_check t_semi t_semi;"):
        result = ip.run_cell(line)
        assert result.success, (line, result.error_in_exec)
        assert result.result is None  # hidden, as ; hides an expression's value
    assert capsys.readouterr().out == ""
    ip.run_cell("s_semi = '%device;'")
    assert ip.user_ns["s_semi"] == "%device;"  # a string that merely starts like one is left alone
    assert ip.run_cell("%device").result is not None


def test_loading_imports_nothing_heavy_and_unload_leaves_nothing():
    code = textwrap.dedent('''
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        cleanups = list(ip.input_transformers_cleanup)
        ip.run_line_magic("load_ext", "autodiff_magics")
        heavy = [m for m in ("torch", "sympy", "ipywidgets", "numpy") if m in sys.modules]
        assert heavy == [], heavy
        assert "gradient" in ip.magics_manager.magics["cell"]
        assert "AutodiffMagics" in ip.magics_manager.registry
        ip.run_line_magic("unload_ext", "autodiff_magics")
        assert "gradient" not in ip.magics_manager.magics["cell"]
        assert not any(k in ip.magics_manager.magics["line"] for k in ("tensorinfo", "alias_check", "device"))
        assert "AutodiffMagics" not in ip.magics_manager.registry
        assert ip.input_transformers_cleanup == cleanups  # the %device; rewrite goes too
        ours = lambda: [c for c in ip.configurables if type(c).__name__ == "AutodiffMagics"]
        assert ours() == []
        ip.run_line_magic("load_ext", "autodiff_magics")
        ip.run_line_magic("reload_ext", "autodiff_magics")
        assert len(ours()) == 1
        r = ip.run_cell_magic("gradient", "x=2.", "x**3")
        assert float(r.gradient["x"]) == 12.0
        print("ok")
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_ctrl_c_in_the_cell_leaves_everything_as_it_was(ip):
    run(ip, textwrap.dedent('''
        import torch
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        calls = []
        def interrupt_on_third_call(v):
            calls.append(1)
            if len(calls) == 3:      # the third run of the cell is the autograd one, under our function mode
                raise KeyboardInterrupt
            return v
    '''))
    before = _state(ip)
    result, captured = run(ip, "%%gradient --wrt w\n(interrupt_on_third_call(w) ** 2).sum()")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    ip.user_ns.pop("calls").clear()
    after = _state(ip)
    before[0].discard("calls")
    assert _same_state(before, after)
    assert ip.user_ns["w"].grad is None and ip.user_ns["w"].requires_grad


def test_a_model_loss_in_its_weights_is_named_by_its_length_not_printed(ip):
    """A model's loss written out in 12 weights is thousands of characters: the views say so in one
    line (the report keeps the whole formula) instead of printing it and each of its derivatives."""
    ip.run_cell(
        "import torch, torch.nn as nn, torch.nn.functional as F\ntorch.manual_seed(0)\n"
        "model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))\nxin = torch.randn(8, 3); yt = torch.randn(8, 1)"
    )
    r = ip.run_cell_magic("gradient", "--wrt model[0].weight", "F.mse_loss(model(xin), yt)")
    assert r.agree and r.methods["symbolic"].status == "ok"
    assert len(r.symbolic.expression) > 1000  # the report keeps it whole
    text = r.to_text()
    head = text.split("Graph of the autograd run")[0]  # the graph's rows carry saved tensors: their own budget
    assert max(map(len, head.splitlines())) < 400
    assert f"f is a {len(r.symbolic.expression):,}-character formula" in text and "∂f/∂" not in text
    html = ip.display_formatter.format(r)[0]["text/html"]
    assert "-character formula" in html and len(html) < 200_000


def test_the_modules_other_parameters_in_the_graph_are_named_from_the_namespace(ip):
    """--wrt one weight: the cell still reaches the module's other parameters (the user's own, unhooked);
    the graph names them as named_parameters() does instead of 'leaf (unnamed)'."""
    ip.run_cell(
        "import torch, torch.nn as nn, torch.nn.functional as F\ntorch.manual_seed(0)\n"
        "m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))\nxin = torch.randn(6, 3); yt = torch.randn(6, 1)"
    )
    r = ip.run_cell_magic("gradient", "--wrt m[2].weight", "F.mse_loss(m(xin), yt)")
    assert sorted(r.graph.leaf_names()) == ["m.0.bias", "m.0.weight", "m.2.bias", "m[2].weight"]
    assert "leaf (unnamed)" not in r.to_text()
    assert all(p.grad is None for p in ip.user_ns["m"].parameters())


def test_a_float32_model_check_says_each_thing_once(ip):
    """The variable's own dtype note and the note on the module's other tensors do not repeat each other."""
    ip.run_cell("import torch, torch.nn as nn\ntorch.manual_seed(0)\nlin = nn.Linear(3, 1)\nxin = torch.randn(4, 3)\nW = lin.weight")
    r = ip.run_cell_magic("gradient", "--wrt W", "lin(xin).sum()")
    dtype_notes = [n for n in r.notes if "float32" in n]
    assert dtype_notes == [
        "W is float32; checked in float64 (use --dtype to change)",
        "every other float32 tensor the cell reaches (a module's parameters and buffers, constants) is promoted as well: "
        "the cell runs on float64 copies, your objects are unchanged (--dtype float32 checks in their own dtype)",
    ], r.notes
    lin = ip.user_ns["lin"]
    assert r.agree and lin.weight.dtype == torch.float32 and lin.weight.grad is None


def test_the_header_shows_a_small_matrix_point_as_written():
    import autodiff_magics as adm

    r = adm.gradient("(x**2).sum()", x=[[0.1, 0.5], [0.3, -0.2]])
    assert r.to_text().splitlines()[0].startswith("f = 0.39   at x = [[0.1, 0.5], [0.3, -0.2]]   (float64")
    assert "x = [[0.1, 0.5], [0.3, -0.2]]" in r.to_html()
