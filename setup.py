"""The one compiled part: ``autodiff_magics.tensors._fused``, one-pass statistics for %tensorinfo.

Optional: without a C compiler the build goes on without it and %tensorinfo uses its NumPy/torch
passes instead (same results, slower on big tensors). Everything else is in pyproject.toml.
"""

import sys

from setuptools import Extension, setup

args = [] if sys.platform == "win32" else ["-O3"]  # NumPy-style loops need -O3 to vectorize
setup(
    ext_modules=[
        Extension(
            "autodiff_magics.tensors._fused",
            ["src/autodiff_magics/tensors/_fused.c"],
            extra_compile_args=args,
            optional=True,
        )
    ]
)
