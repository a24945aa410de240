"""What the user had, saved before the check and put back after it, whatever happens.

Random generators (torch CPU and CUDA once initialised, NumPy's global, Python's ``random``),
default dtype and device, grad, inference and anomaly modes, and the depth of torch's function-
and dispatch-mode stacks. The restore runs with SIGINT blocked and is retried if a Ctrl-C was
already on its way, so two quick Ctrl-C cannot leave a mode behind.
"""

from __future__ import annotations

import gc
import random
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["GlobalState", "restore_uninterrupted"]


class GlobalState:
    """What the user had: generators, default dtype/device, grad/inference/anomaly modes, mode stacks."""

    @classmethod
    def save(cls, generators: bool = True) -> GlobalState:
        """The modes now, and the generators unless ``generators=False`` (then
        :meth:`save_generators` saves them later, before the first run that may draw)."""
        import torch

        self = cls()
        self.torch_rng = self.cuda_rng = self.numpy_rng = self.python_rng = None
        self.generators = False
        self.collector: bool | None = None  # whether the cyclic collector was on, once paused
        if generators:
            self.save_generators()
        self.dtype = torch.get_default_dtype()
        self.device = torch.get_default_device()
        self.grad = torch.is_grad_enabled()
        self.inference = torch.is_inference_mode_enabled()
        self.anomaly = (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled())
        self.function_modes = torch._C._len_torch_function_stack()
        self.dispatch_modes = torch._C._len_torch_dispatch_stack()
        self.reseed = False
        self._inference_off = None
        return self

    def save_generators(self) -> None:
        """The generators as they are now: every run starts from them, and they are put back."""
        import torch

        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        self.numpy_rng = np.random.get_state()
        self.python_rng = random.getstate()
        self.generators = True

    def pause_collector(self) -> None:
        """Pause Python's cyclic garbage collector until :meth:`restore` (which turns it back on
        if it was): a check allocates thousands of small objects, and the collections they
        trigger scan the whole heap (torch's and SymPy's included): 0.27–0.29 ms of a 3 ms check
        of the seed's f2 here. Only for cells that make no reference cycles of their own."""
        if self.collector is None:
            self.collector = gc.isenabled()
            gc.disable()

    def enter(self, dt: Any, user_modes: list[str]) -> None:
        import torch

        if dt in (torch.float32, torch.float64):
            torch.set_default_dtype(dt)
        torch.set_grad_enabled(True)  # autograd's run needs it; the evaluations turn it off themselves
        if self.inference:
            user_modes.append("torch.inference_mode")
            self._inference_off = torch.inference_mode(False)
            self._inference_off.__enter__()
        elif not self.grad:
            user_modes.append("grad mode off (torch.set_grad_enabled(False) or torch.no_grad)")
        if self.anomaly[0]:
            torch.autograd.set_detect_anomaly(False)

    def common_random_numbers(self, numpy: bool = True) -> None:
        """Every evaluation starts from the generators the user had (or another seed, once).
        NumPy's is set back only when the cell draws from it (setting it costs 30 µs)."""
        import torch

        if not self.generators:
            return
        if self.reseed:
            seed = 0x5EED if self.reseed is True else int(self.reseed)
            torch.manual_seed(seed), np.random.seed(seed), random.seed(seed)
            return
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        if numpy:
            np.random.set_state(self.numpy_rng)
        random.setstate(self.python_rng)

    def drawn(self) -> dict[str, bool]:
        """Which generators moved since the check began (after the first run: which the cell uses)."""
        import torch

        if not self.generators:
            return {"torch": False, "numpy": False, "python": False}
        now = np.random.get_state()
        return {
            "torch": not torch.equal(torch.get_rng_state(), self.torch_rng),
            "numpy": now[2] != self.numpy_rng[2] or not np.array_equal(now[1], self.numpy_rng[1]),
            "python": random.getstate() != self.python_rng,
        }

    def restore(self) -> None:
        import torch
        from torch.utils._python_dispatch import _pop_mode

        while torch._C._len_torch_function_stack() > self.function_modes:
            torch._C._pop_torch_function_stack()
        while torch._C._len_torch_dispatch_stack() > self.dispatch_modes:
            _pop_mode()
        if self._inference_off is not None:
            self._inference_off.__exit__(None, None, None)
            self._inference_off = None
        if self.generators:
            torch.set_rng_state(self.torch_rng)
            if self.cuda_rng is not None:
                torch.cuda.set_rng_state_all(self.cuda_rng)
            np.random.set_state(self.numpy_rng)
            random.setstate(self.python_rng)
        torch.set_default_dtype(self.dtype)
        if torch.get_default_device() != self.device:
            torch.set_default_device(self.device)
        torch.set_grad_enabled(self.grad)
        torch.autograd.set_detect_anomaly(*self.anomaly)
        if self.collector is not None:
            if self.collector:
                gc.enable()
            self.collector = None


def restore_uninterrupted(restore: Callable[[], None]) -> None:
    """Run ``restore`` to the end even if Ctrl-C comes (once or twice) meanwhile; then re-raise it."""
    interrupted = False
    for _ in range(8):
        try:
            with _sigint_blocked():
                restore()
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted and sys.exc_info()[0] is None:
        raise KeyboardInterrupt


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (AttributeError, ValueError, OSError):  # not on this platform: restore as fast as we can
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
