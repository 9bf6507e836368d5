"""Sharded checkpoints (the directories :class:`~.fsdp2.FSDP2Strategy` writes with
``state_dict_type='sharded'``) read in one process, without a process group, never whole.

A directory holds ``torch.distributed.checkpoint`` (DCP) shards (one ``.distcp`` file per rank,
and ``.metadata``: every entry's flat key, its place in the nested state, its size and dtype)
under two sections, ``state_dict`` (student, teacher, buffers) and ``optimizer`` (AdamW's two
moments of every parameter and the parameter groups), plus ``extra.pth`` (meta, message hub,
schedulers). For the huge recipe the optimiser is twice the model and the model holds student
and teacher, about 32 GB in fp32, so:

* only the sections asked for are read (the model's; the optimiser's on demand);
* :func:`convert_sharded_checkpoint` writes the file first without data
  (``torch.serialization.skip_data`` of placeholders that take no memory), then loads the
  tensors in groups under a memory budget, writes each into its record of the file and frees
  it, sets the records' CRC-32, and renames the complete file onto the destination;
* :func:`load_sharded_checkpoint` (``read_checkpoint``'s way into a directory) allocates each
  tensor once and lets DCP copy the shards into it, one shard at a time.

Both give the keys and values of ``dcp_to_torch_save`` (what the converter wrote before),
placed in the tree by DCP's own helper (``set_element``) at the paths the metadata records.
"""

import io
import os
import os.path as osp
import pickle
import struct
import warnings
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch

from mmskysense.utils.atomic_files import partial_path, publish

#: what a sharded checkpoint directory holds besides the shards
EXTRA_FILE = 'extra.pth'
#: the index DCP writes last (every entry's key, place, size and chunks)
METADATA_FILE = '.metadata'
#: the sections of the saved state: the model's, and the optimiser's
MODEL_SECTION, OPTIM_SECTION = 'state_dict', 'optimizer'
#: the default budget of tensors held at once while converting
DEFAULT_MAX_MEMORY_GB = 1.0

_LOCAL_HEADER, _CENTRAL_HEADER, _DESCRIPTOR = 0x04034B50, 0x02014B50, 0x08074B50


def is_sharded_checkpoint(path: str) -> bool:
    """Whether ``path`` is a directory written by ``FSDP2Strategy`` (``'sharded'``)."""
    return osp.isdir(path) and osp.isfile(osp.join(path, EXTRA_FILE))


def check_sharded_checkpoint(path: str, what: str) -> None:
    """Raise ``FileNotFoundError`` naming ``path`` (and ``what`` asked) unless it is a complete
    sharded checkpoint directory (``extra.pth`` is written after the shards, ``.metadata`` by
    DCP at the end of its save)."""
    lacks = [f for f in (EXTRA_FILE, METADATA_FILE) if not osp.isfile(osp.join(path, f))]
    if osp.isdir(path) and not lacks:
        return
    found = f'a directory without {" and ".join(lacks)}' if osp.isdir(path) else 'not a directory'
    raise FileNotFoundError(
        f'{what}: {path} is not a sharded checkpoint directory ({found}); expected the '
        f'directory FSDP2Strategy writes (iter_N.pth/: the shards, {METADATA_FILE} and '
        f'{EXTRA_FILE})'
    )


class Entry(NamedTuple):
    """One saved value: its flat DCP key, its place in the nested state and, for a tensor, its
    size and dtype (None for the small pickled values such as the parameter groups)."""

    key: str
    path: tuple
    size: torch.Size | None
    dtype: torch.dtype | None

    @property
    def nbytes(self) -> int:
        return self.size.numel() * self.dtype.itemsize if self.size is not None else 0


def sharded_entries(src: str, sections: Sequence[str]) -> list[Entry]:
    """The entries of ``src``'s metadata under ``sections``, in the order they were saved."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    metadata = FileSystemReader(src).read_metadata()
    places = metadata.planner_data or {}
    entries = []
    for key, md in metadata.state_dict_metadata.items():
        path = tuple(places.get(key, (key,)))
        if path[0] not in sections:
            continue
        if isinstance(md, TensorStorageMetadata):
            entries.append(Entry(key, path, md.size, md.properties.dtype))
        else:
            entries.append(Entry(key, path, None, None))
    if not any(e.path[0] == MODEL_SECTION for e in entries):
        raise ValueError(
            f'{src}: the sharded checkpoint has no {MODEL_SECTION!r} entry (its sections: '
            f'{sorted({tuple(places.get(k, (k,)))[0] for k in metadata.state_dict_metadata})})'
        )
    return entries


def _dcp_load(src: str, state: dict[str, Any]) -> None:
    """DCP's load of the flat ``state`` (keys as in the metadata) in this process alone: each
    tensor is filled in place, each other value replaced."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader

    with warnings.catch_warnings():  # 'assuming the intent is to load in a single process'
        warnings.filterwarnings('ignore', message='.*single process', category=UserWarning)
        dcp.load(state, storage_reader=FileSystemReader(src), no_dist=True)


def _tensor_groups(entries: Sequence[Entry], max_bytes: float) -> Iterator[list[Entry]]:
    """Consecutive tensor entries in groups of at most ``max_bytes`` (a larger one alone)."""
    group, size = [], 0
    for e in entries:
        if e.size is None:
            continue
        if group and size + e.nbytes > max_bytes:
            yield group
            group, size = [], 0
        group.append(e)
        size += e.nbytes
    if group:
        yield group


def _assemble(src: str, entries: Sequence[Entry], values: dict[str, Any], sections) -> dict:
    """``extra.pth``'s dict with each section placed as ``dcp_to_torch_save`` nests it."""
    from torch.distributed.checkpoint._traverse import set_element

    tree: dict = {}
    for e in entries:  # the saved order, as dcp_to_torch_save rebuilds it
        set_element(tree, e.path, values[e.key])
    checkpoint = torch.load(osp.join(src, EXTRA_FILE), map_location='cpu', weights_only=False)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('meta'), dict):
        raise ValueError(
            f'{osp.join(src, EXTRA_FILE)}: expected a dict with a `meta` dict (FSDP2Strategy '
            f'writes meta, message hub and schedulers there)'
        )
    # extra's own tensors (if any) get their own storage: one record each in the written file
    checkpoint = _map_tensors(checkpoint, lambda t: t.clone())
    for section in sections:
        if section in tree:
            checkpoint[section] = tree[section]
    checkpoint['meta']['state_dict_type'] = 'full'
    return checkpoint


def _map_tensors(obj: Any, fn) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if type(obj) in (dict, OrderedDict):
        return type(obj)((k, _map_tensors(v, fn)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj  # other containers: a tensor in them that shares storage is refused on writing


def load_sharded_checkpoint(src: str, with_optimizer: bool = False) -> dict:
    """The checkpoint of the directory ``src`` in memory (``extra.pth``'s entries, the model's
    ``state_dict`` and, with ``with_optimizer``, the optimiser's): each tensor is allocated
    once and filled from the shards; nothing else is read."""
    check_sharded_checkpoint(src, 'load_sharded_checkpoint')
    sections = (MODEL_SECTION, OPTIM_SECTION) if with_optimizer else (MODEL_SECTION,)
    entries = sharded_entries(src, sections)
    values: dict[str, Any] = {
        e.key: None if e.size is None else torch.empty(e.size, dtype=e.dtype) for e in entries
    }
    _dcp_load(src, values)
    return _assemble(src, entries, values, sections)


def convert_sharded_checkpoint(
    src: str,
    dst: str | None = None,
    with_optimizer: bool = False,
    max_memory_gb: float = DEFAULT_MAX_MEMORY_GB,
) -> dict:
    """A sharded checkpoint directory -> one mmengine checkpoint (the keys of a DDP run), in one
    process, without a process group or GPU (module docstring).

    ``dst`` given: the file is written holding at most ``max_memory_gb`` of tensors at once
    (plus the shard being copied), atomically (a temporary file beside ``dst``, renamed once
    complete), and returned mapped from ``dst`` (its pages are read when touched). ``dst``
    None: the checkpoint in memory (:func:`load_sharded_checkpoint`).
    """
    if dst is None:
        return load_sharded_checkpoint(src, with_optimizer)
    check_sharded_checkpoint(src, 'convert_sharded_checkpoint')
    if not max_memory_gb > 0:
        raise ValueError(
            f'convert_sharded_checkpoint: max_memory_gb must be > 0, got {max_memory_gb}'
        )
    from torch._subclasses.fake_tensor import FakeTensorMode

    sections = (MODEL_SECTION, OPTIM_SECTION) if with_optimizer else (MODEL_SECTION,)
    entries = sharded_entries(src, sections)
    values: dict[str, Any] = {e.key: None for e in entries if e.size is None}
    if values:
        _dcp_load(src, values)  # the small pickled values (parameter groups)
    with FakeTensorMode():  # placeholders with a size and dtype, no memory
        values.update(
            (e.key, torch.empty(e.size, dtype=e.dtype)) for e in entries if e.size is not None
        )
    placeholders = {id(values[e.key]): e.key for e in entries if e.size is not None}
    checkpoint = _assemble(src, entries, values, sections)

    def groups() -> Iterator[dict[str, torch.Tensor]]:
        for group in _tensor_groups(entries, max_memory_gb * 2**30):
            loaded = {e.key: torch.empty(e.size, dtype=e.dtype) for e in group}
            _dcp_load(src, loaded)
            yield loaded
            del loaded  # before the next group is allocated

    save_streamed(checkpoint, dst, placeholders, groups())
    return torch.load(dst, map_location='cpu', mmap=True, weights_only=False)


def save_streamed(
    obj: Any,
    dst: str,
    placeholders: dict[int, str],
    groups: Iterator[dict[str, torch.Tensor]],
) -> None:
    """``torch.save(obj, dst)`` where the tensors of ``obj`` whose ``id`` is in
    ``placeholders`` (FakeTensors) get their data from ``groups`` (dicts ``name -> tensor``,
    each name of ``placeholders`` once, same size and dtype), one group in memory at a time.

    The file is first written without data (``torch.serialization.skip_data``: every record
    sized, nothing written); each tensor is then written at its record's offset, and each
    record's CRC-32 (data descriptor and central directory) set, so that it is the zip a plain
    ``torch.save`` writes. It is written beside ``dst`` and renamed onto it once complete.
    """
    dst = osp.abspath(osp.expanduser(dst))
    tmp = partial_path(dst, '.partial')
    try:
        with open(tmp, 'wb') as f, torch.serialization.skip_data(materialize_fake_tensors=True):
            torch.save(obj, f)
        order = _storage_order(obj)
        records = _data_records(tmp, order)
        index = {id(t): i for i, t in enumerate(order)}
        by_name = {name: index[i] for i, name in placeholders.items()}
        crcs: dict[int, int] = {}
        with open(tmp, 'r+b') as f:
            for i, t in enumerate(order):
                if id(t) not in placeholders:  # a real tensor of obj: its data is at hand
                    crcs[i] = _write_record(f, records[i], t, f'tensor {i}')
            for group in groups:
                while group:  # each tensor goes as soon as written
                    name, t = group.popitem()
                    i = by_name.get(name)
                    if i is None or i in crcs:
                        raise ValueError(
                            f'save_streamed: {name!r} is not a placeholder left to fill'
                        )
                    crcs[i] = _write_record(f, records[i], t, name)
                    del t
            missing = [n for n, i in by_name.items() if i not in crcs]
            if missing:
                raise ValueError(f'save_streamed: no data came for {missing[:10]}')
            for i, crc in crcs.items():
                for pos in records[i].crc_at:
                    f.seek(pos)
                    f.write(struct.pack('<I', crc))
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def _storage_order(obj: Any) -> list[torch.Tensor]:
    """The tensors of ``obj`` in the order ``torch.save`` numbers their storages (``data/0``,
    ``data/1``, ...): their first appearance in the pickle traversal of ``obj`` (each tensor
    here owns its storage: placeholders, and extra's tensors cloned)."""
    order: list[torch.Tensor] = []
    seen: dict[int, int] = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, torch.Tensor):
                if id(o) not in seen:
                    seen[id(o)] = len(order)
                    order.append(o)
                return seen[id(o)]
            return None

    Pickler(io.BytesIO(), protocol=2).dump(obj)  # torch.save's default protocol
    return order


class _Record(NamedTuple):
    offset: int  # of the data in the file
    size: int
    crc_at: tuple[int, ...]  # where the record's CRC-32 is written (descriptor or header, and
    # the central directory)


def _data_records(path: str, order: Sequence[torch.Tensor]) -> list[_Record]:
    """Where each storage record (``<archive>/data/<i>``) of the zip ``path`` lies; checks that
    they are as many as the tensors of ``order`` and as large."""
    with zipfile.ZipFile(path) as zf:
        infos, start_dir = zf.infolist(), zf.start_dir
    central: dict[str, int] = {}
    records: dict[int, _Record] = {}
    with open(path, 'rb') as f:
        pos = start_dir
        for zi in infos:  # the central directory lists the records in this order
            f.seek(pos)
            head = f.read(46)
            (sig,) = struct.unpack('<I', head[:4])
            n, m, k = struct.unpack('<HHH', head[28:34])
            if sig != _CENTRAL_HEADER or f.read(n).decode() != zi.orig_filename:
                raise ValueError(f'{path}: unexpected central directory entry at {pos}')
            central[zi.filename] = pos + 16
            pos += 46 + n + m + k
        prefix = next(zi.filename for zi in infos if zi.filename.endswith('data.pkl'))[
            : -len('data.pkl')
        ]
        for zi in infos:
            name = zi.filename[len(prefix) :]
            if not (name.startswith('data/') and name[5:].isdigit()):
                continue
            f.seek(zi.header_offset)
            sig, _, flags, *_rest, n, m = struct.unpack('<IHHHHHIIIHH', f.read(30))
            if sig != _LOCAL_HEADER:
                raise ValueError(f'{path}: no local header for {zi.filename}')
            offset = zi.header_offset + 30 + n + m
            if flags & 0x08:  # the CRC follows the data, in a data descriptor
                f.seek(offset + zi.compress_size)
                tail = f.read(4)
                at = (
                    offset
                    + zi.compress_size
                    + (4 if struct.unpack('<I', tail)[0] == _DESCRIPTOR else 0)
                )
            else:
                at = zi.header_offset + 14
            records[int(name[5:])] = _Record(offset, zi.file_size, (at, central[zi.filename]))
    sizes = [t.untyped_storage().nbytes() for t in order]
    if (
        sorted(records) != list(range(len(order)))
        or [records[i].size for i in range(len(order))] != sizes
    ):
        raise RuntimeError(
            f'save_streamed: {path} has {len(records)} storage records, not the '
            f'{len(order)} tensors of the checkpoint in pickling order (sizes differ)'
        )
    return [records[i] for i in range(len(order))]


def _write_record(f, record: _Record, tensor: torch.Tensor, name: str) -> int:
    """Write ``tensor``'s bytes at ``record`` and return their CRC-32."""
    data = tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
    if data.nbytes != record.size:
        raise ValueError(
            f'save_streamed: {name!r} has {data.nbytes} bytes, its record {record.size}'
        )
    f.seek(record.offset)
    f.write(memoryview(data))
    return zlib.crc32(memoryview(data))
