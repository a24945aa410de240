"""Operators that draw random numbers: their outputs are the draws the record copied.

Every method of ``%%gradient`` runs the cell from the same generator states (common random
numbers), so within one check a draw is a constant of f: dropout's mask, ``torch.randn_like(x)``'s
noise. In-place draws (``bernoulli_``, ``normal_``, ``uniform_``, …) overwrite their tensor, and
``*_like`` factories read only its shape, so the variables never flow through them. A draw whose
distribution depends on the variables (``torch.normal(mean=x)``, ``torch.bernoulli(p)`` with p from
x, or ``y.bernoulli_(x)``) is refused: taking it as a constant would drop that dependence. ``native_dropout`` (the fused
kernel on accelerators) keeps its input: output = input · mask · 1/(1 − p), with the recorded mask.
"""

from __future__ import annotations

import numpy as np

from ..exact import SymbolicUnsupported, number
from . import Call, as_objects, register

#: in-place draws (the tensor's old values are overwritten) and factories that read only a shape
_FILLS = ("bernoulli_", "normal_", "uniform_", "exponential_", "geometric_", "cauchy_", "log_normal_", "random_",
          "rand_like", "randn_like", "randint_like")
#: draws whose distribution is read from their input tensors (bernoulli's probabilities, normal's
#: mean and std, poisson's rates, ...)
_DEPENDENT = ("bernoulli", "normal", "poisson", "multinomial", "binomial", "_standard_gamma", "_sample_dirichlet")


@register(*_FILLS, *_DEPENDENT)
def draws(call: Call) -> tuple[np.ndarray | None, ...]:
    """The recorded draws, as exact constants; refused when their distribution reads the variables
    (a fill's or ``*_like``'s ``self`` gives only a shape, as does ``x.bernoulli(0.5)``'s)."""
    from ..recording import TensorRef

    op = call.op
    packet = str(op.overloadpacket).split(".")[-1]
    shape_only = {"self"} if packet.endswith("_") or packet.endswith("_like") or op._overloadname == "p" else set()
    for name, v in call.args.items():
        refs = v if isinstance(v, list) else [v]
        if name not in shape_only and any(isinstance(r, TensorRef) and r.floating and call.replay.symbolic(r) for r in refs):
            raise SymbolicUnsupported(f"torch.{packet.rstrip('_')} draws random numbers whose distribution depends on the "
                                      "variables; taking its draws as constants would drop that dependence")
    return tuple(as_objects(o.value) if o is not None and getattr(o, "floating", False) and o.value is not None else None
                 for o in call.replay.current_outputs)


@register("native_dropout")
def native_dropout(call: Call) -> tuple[np.ndarray | None, ...]:
    x = call["input"]
    p, train = float(call.real("p")), call.real("train")
    outputs = call.replay.current_outputs
    if train is False or p == 0.0:
        return (x, None)
    mask = outputs[1].value.detach().to("cpu").numpy().astype(bool)
    scale = number(1.0 / (1.0 - p)) if p < 1.0 else 0
    call.spend(np.size(x))
    out = np.where(mask, np.asarray(x, dtype=object) * scale, 0)
    return (np.asarray(out, dtype=object), None)
