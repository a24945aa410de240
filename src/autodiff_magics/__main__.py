"""``python -m autodiff_magics``: a tour of the lesson's examples through the magics, as text.

It starts a real IPython shell (text output only, as a terminal shows it), loads the extension
and runs the lesson's cells one by one, printing each input and what the magics answer.
``--cells`` prints only the inputs.
"""

from __future__ import annotations

import argparse
import sys

TOUR: list[tuple[str, str]] = [
    ("Load the extension", "%load_ext autodiff_magics\nimport torch, numpy as np"),
    ("What is a tensor? Its shape read in plain words", "%tensorinfo torch.tensor([[1, 2, 3], [4, 5, 6]])"),
    ("3 matrices of 4 rows and 5 columns", "%tensorinfo torch.ones(3, 4, 5)"),
    ("The lesson printed a.size (a method) instead of a.size()", "a = torch.tensor(-5.3)\n%tensorinfo a.size"),
    ("Bad copy: x.numpy() shares memory with x", "x = torch.rand(2, 3)\ny = x.numpy()\n%alias_check x y"),
    ("Good copy: x.clone().numpy() does not", "y2 = x.clone().numpy()\n%alias_check x y2"),
    ("Which variables changed silently when x.mul_(2) ran?", "%%alias_check\nx.mul_(2)"),
    ("NumPy to torch: from_numpy shares, torch.tensor copies",
     "z = np.random.random((3, 4))\nzt = torch.from_numpy(z)\nzc = torch.tensor(z)\n%alias_check z zt zc"),
    ("GPU and CPU: what this machine has", "%device"),
    ("Symbolic, numerical and automatic differentiation of sin(2x) at 3.5", "%%gradient x=3.5\nsin(2*x)"),
    ("f(x) = 3·x₀·x₂ − 2·x₁² + 5·x₂³ at (1, 2, 3), every method side by side",
     "%%gradient x=[1., 2., 3.]\n3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"),
    ("The lesson's central difference printed [3, -8, 144]: checked as --expect",
     "%%gradient x=[1., 2., 3.] --expect [3, -8, 144]\n3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"),
    ("Why [3, -8, 144]? f2(x0 + h*ei) with a 3×3 ei broadcasts: each row is a whole other point",
     "x0 = np.array([1.0, 2.0, 3.0]); h = 1e-4; ei = np.eye(3)\n"
     "def f2(x): return 3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3\n"
     "print((f2(x0 + h*ei) - f2(x0 - h*ei)) / (2*h))          # the slip: x[k] of a matrix is a row\n"
     "print([(f2(x0 + h*e) - f2(x0 - h*e)) / (2*h) for e in ei])  # one coordinate at a time"),
    ("abs(x) at 0: not differentiable, and the methods say so", "%%gradient x=0.\nabs(x)"),
    ("x * x.item(): autograd silently sees 2x; the cross-check does not", "%%gradient x=2.\nx * x.item()"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autodiff_magics", description=__doc__.splitlines()[0])
    parser.add_argument("--cells", action="store_true", help="print the tour's cells without running them")
    args = parser.parse_args(argv)
    if args.cells:
        for title, code in TOUR:
            print(f"# {title}\n{code}\n")
        return 0

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    # a terminal shows only text: the reports then never build widgets
    shell.display_formatter.active_types = ["text/plain"]
    failures = 0
    for number, (title, code) in enumerate(TOUR, start=1):
        print(f"\n{'═' * 100}\n# {title}")
        lines = code.splitlines()
        print(f"In [{number}]: {lines[0]}")
        for line in lines[1:]:
            print(f"{' ' * (len(str(number)) + 4)}...: {line}")
        sys.stdout.flush()
        result = shell.run_cell(code, store_history=True)
        sys.stdout.flush()
        if not result.success:
            failures += 1
    print(f"\n{'═' * 100}\n{len(TOUR)} cells, {failures} failed.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
