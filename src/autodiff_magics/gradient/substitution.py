"""The user's tensors swapped for the check's copies wherever the cell reaches them.

``--wrt W`` where W is also a model's parameter: the cell reaches W through ``model``, not by
name, so a torch function mode swaps the tensor object for the evaluation's copy in every
operation that receives it (and promotes lower-precision floating tensors to the check's dtype
when asked, so a float32 model checks in float64 without a dtype error).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Substitution"]

#: argument types that never hold a tensor
_ATOMS = frozenset({bool, int, float, complex, str, bytes})


class Substitution:
    """A torch function mode that swaps the user's tensors for the evaluation's, by identity,
    and (when asked) promotes lower-precision floating tensors to the check's dtype."""

    def __init__(self, originals: Mapping[int, tuple[Any, str]], variables: Mapping[str, Any], promote_to: Any,
                 promoted: dict[int, list[Any]] | None = None) -> None:
        """``promoted``: promoted copies kept from one evaluation to the next, for the tensors
        already in it (the user's data that needs no gradient), keyed by id. Within one evaluation
        every use of such a tensor reads one copy, so a write by the cell (``data.mul_(2)``, a
        BatchNorm's running statistics) is seen by the operations after it, as in a plain run; the
        next evaluation reuses that copy only if nothing wrote it (or the tensor) meanwhile."""
        from torch.overrides import TorchFunctionMode

        swap = {key: variables[name] for key, (_, name) in originals.items() if name in variables}
        promote = promote_to
        kept = promoted if promoted is not None else {}
        token = object()  # this evaluation

        def convert(a: Any) -> Any:
            replaced = swap.get(id(a))
            if replaced is not None:
                return replaced
            if promote is not None and getattr(a, "is_floating_point", None) is not None and type(a).__module__.startswith("torch"):
                try:
                    if a.is_floating_point() and a.dtype != promote and a.dtype.itemsize < promote.itemsize:
                        held = kept.get(id(a))
                        if held is None:
                            return a.to(promote)
                        return _kept_copy(kept, a, held, promote, token)
                except Exception:  # noqa: BLE001 - a tensor subclass without dtype: leave it
                    return a
            return a

        def convert_all(a: Any) -> Any:
            # plain tuples, lists and dicts by hand (the common case, and fast); anything else
            # that may hold tensors (a namedtuple, a custom container) through torch's pytree
            kind = type(a)
            if kind is tuple or kind is list:
                return kind(convert_all(b) for b in a)
            if kind is dict:
                return {k: convert_all(b) for k, b in a.items()}
            if a is None or kind in _ATOMS:
                return a
            if isinstance(a, (tuple, list, dict)):
                from torch.utils._pytree import tree_map

                return tree_map(convert, a)
            return convert(a)

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                return func(*convert_all(args), **(convert_all(kwargs) if kwargs else {}))

        self._mode = Mode()

    def __enter__(self) -> Any:
        return self._mode.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._mode.__exit__(*exc)


def _kept_copy(kept: dict[int, list[Any]], a: Any, held: list[Any], promote: Any, token: object) -> Any:
    """The kept promoted copy of ``a``: the one this evaluation uses (written or not), or an
    earlier evaluation's if neither it nor ``a`` has been written since it was made; else a new one.
    ``held`` is [a, a's version, copy, the copy's version when made, the evaluation using it]."""
    try:
        same = held[0] is a and held[2] is not None and held[1] == a._version
        if same and (held[4] is token or held[3] == held[2]._version):
            held[4] = token
            return held[2]
    except RuntimeError:  # an inference tensor keeps no version: promoted each time
        kept.pop(id(a), None)
        return a.to(promote)
    copy = a.to(promote)
    kept[id(a)] = [a, a._version, copy, copy._version, token]
    return copy
