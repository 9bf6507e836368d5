"""Count the reads of tensor values by the host (device-to-host synchronisations on a GPU) in a
block of code, with a ``TorchFunctionMode``: every torch call made from Python, the model's and
torch's own Python code included, passes through it.

A read is a call that needs a tensor's values on the host: ``item``, ``tolist``, ``__bool__``
(an ``if`` on a tensor), ``__int__`` / ``__float__`` / ``__index__``, ``numpy``, ``cpu``; ops
whose output size depends on the values (``nonzero``, ``argwhere``, ``unique``,
``masked_select``, indexing or assigning with a boolean mask, ``repeat_interleave`` without
``output_size``); and ops whose CUDA kernels read a value to size their output (``bincount``,
``one_hot`` without ``num_classes``). ``equal`` and ``allclose`` return host booleans. And the
copies the other way that torch makes synchronously from pageable host memory: a tensor made
from Python data for an explicit device (``torch.tensor(x, device=...)``, ``as_tensor`` of
non-tensor data with a device).

Not a test module: the tests load it.
"""

import collections
import contextlib
import traceback

import torch
from torch.overrides import TorchFunctionMode

READS = frozenset(
    {
        'item',
        'tolist',
        '__bool__',
        '__int__',
        '__float__',
        '__index__',
        'numpy',
        'cpu',
        'nonzero',
        'argwhere',
        'unique',
        'unique_consecutive',
        'masked_select',
        'bincount',
        'equal',
        'allclose',
    }
)


def _is_read(name: str, args: tuple, kwargs: dict) -> bool:
    if name in READS:
        return True
    if name in ('__getitem__', '__setitem__') and len(args) > 1:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
    if name == 'repeat_interleave':
        return kwargs.get('output_size') is None and isinstance(
            args[1] if len(args) > 1 else kwargs.get('repeats'), torch.Tensor
        )
    if name in ('tensor', 'as_tensor') and kwargs.get('device') is not None:
        return not (name == 'as_tensor' and isinstance(args[0], torch.Tensor))
    if name == 'one_hot':
        return (args[1] if len(args) > 1 else kwargs.get('num_classes', -1)) == -1
    return False


class HostReads(TorchFunctionMode):
    """``with HostReads() as reads: ...``; then ``reads.total``, ``reads.by_site`` (a Counter
    of ``'file:line name'``, the innermost frame outside torch itself) and ``reads.by_name``."""

    def __init__(self) -> None:
        super().__init__()
        self.by_site: collections.Counter = collections.Counter()
        self.by_name: collections.Counter = collections.Counter()
        self._paused = False

    @property
    def total(self) -> int:
        return sum(self.by_name.values())

    @contextlib.contextmanager
    def paused(self):
        """Do not count inside this block."""
        self._paused, before = True, self._paused
        try:
            yield
        finally:
            self._paused = before

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, '__name__', str(func))
        if not self._paused and _is_read(name, args, kwargs):
            self.by_name[name] += 1
            self.by_site[f'{_site()} {name}'] += 1
        return func(*args, **kwargs)


def _site() -> str:
    frames = traceback.extract_stack()[:-2]  # without this function and the mode's
    outside = [f for f in frames if '/torch/' not in f.filename and __file__ != f.filename]
    frame = (outside or frames)[-1]
    path = frame.filename
    for marker in ('site-packages/', 'mmskysense/', 'tests/'):
        if marker in path:
            path = (marker if marker != 'site-packages/' else '') + path.split(marker, 1)[1]
            break
    return f'{path}:{frame.lineno}'
