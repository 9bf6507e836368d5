"""The adapter of an exported model: ONNX Runtime over a ``TileBatch``, without torch.

An ONNX file written by ``tools/deployment/export.py`` carries its ``InputContract`` in its
metadata (``mmskysense.input_contract``; the JSON sidecar ``<model>.json`` is read when the
metadata lacks it). The adapter does what the model's data preprocessor did before the graph:
the tile's values as float32 (a series or pair stacked date-major, ``N x (T*C) x h x w``), the
three channels reversed where the preprocessor swapped BGR and RGB, then ``(x - mean) / std``;
the graph gives class probabilities (``N x K x h x w``, or ``N x K`` for a classifier, spread
over the tile), as the torch adapters do.
"""

import json
import os.path as osp
from typing import Any

import numpy as np

from .contract import (
    ONNX_CONTRACT_KEY,
    InputContract,
    contract_from_dict,
    read_contract_json,
    sidecar_path,
)
from .inputs import TileBatch


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            'running an exported .onnx model needs onnxruntime: pip install onnxruntime '
            '(or mmskysense[export])'
        ) from None
    return onnxruntime


def onnx_contract(path: str, metadata: dict[str, str]) -> tuple[InputContract, dict]:
    """``(contract, export details)`` of the ONNX file ``path`` from its ``metadata`` (the
    session's custom metadata map), else from its JSON sidecar."""
    text = metadata.get(ONNX_CONTRACT_KEY)
    if text is None:
        sidecar = sidecar_path(path)
        if not osp.exists(sidecar):
            raise ValueError(
                f'{path}: no input contract in its metadata ({ONNX_CONTRACT_KEY}) nor beside it '
                f'({sidecar}); export it with tools/deployment/export.py'
            )
        return read_contract_json(sidecar)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: metadata {ONNX_CONTRACT_KEY} is not JSON ({err})') from None
    export = doc.pop('export', {}) if isinstance(doc, dict) else {}
    return contract_from_dict(doc, f'{path}: metadata {ONNX_CONTRACT_KEY}'), export


class OnnxRuntimeAdapter:
    """An exported segmentor, change detector or scene classifier as a scene adapter.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime's intra-op threads (None: its default).
        providers: ONNX Runtime execution providers (default: the CPU's).
    """

    def __init__(self, path: str, threads: int | None = None, providers: Any = None) -> None:
        ort = _onnxruntime()
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no such ONNX file')
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: constant-folding notes are not for users
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                path, options, providers=providers or ['CPUExecutionProvider']
            )
        except Exception as err:  # onnxruntime raises its own classes for a bad file
            raise ValueError(f'{path}: ONNX Runtime cannot load it: {err}') from None
        self.path = path
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.contract, self.export = onnx_contract(path, dict(metadata))
        if self.export.get('part', 'model') != 'model':
            raise ValueError(
                f'{path}: an exported {self.export["part"]} gives features, not class '
                'probabilities; export the whole model for a map'
            )
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f'{path}: the graph takes {len(inputs)} inputs; expected one')
        self.input_name = inputs[0].name
        shape = inputs[0].shape
        self.channels = shape[1] if isinstance(shape[1], int) else None
        self.tile = shape[-1] if isinstance(shape[-1], int) else None
        self.name = self.contract.spec.reference.name

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Tiles ``N x C x h x w`` as read -> the graph's input (the data preprocessor's
        channel swap and standardisation, in float32)."""
        x = x.astype(np.float32)
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(
                f'{self.path}: the graph takes {self.channels} channels, the tiles have '
                f'{x.shape[1]}'
            )
        if self.contract.bgr_to_rgb and x.shape[1] == 3:
            x = np.ascontiguousarray(x[:, ::-1])
        stats = self.contract.channel_stats(x.shape[1])
        if stats is not None:
            mean = np.asarray(stats[0], np.float32)[None, :, None, None]
            std = np.asarray(stats[1], np.float32)[None, :, None, None]
            x = (x - mean) / std
        return x

    def predict_array(self, x: np.ndarray) -> np.ndarray:
        """Tiles ``N x C x h x w`` as read -> probabilities ``N x K x h x w`` (float32)."""
        h, w = x.shape[-2:]
        if self.tile is not None and (h, w) != (self.tile, self.tile):
            raise ValueError(
                f'{self.path}: the graph takes tiles of {self.tile} px, got {h} x {w} '
                f'(run with --tile {self.tile})'
            )
        (probs,) = self.session.run(None, {self.input_name: self.preprocess(x)})[:1]
        probs = np.asarray(probs, dtype=np.float32)
        if probs.ndim == 2:  # a classifier: one distribution per tile
            return np.ascontiguousarray(
                np.broadcast_to(probs[:, :, None, None], (*probs.shape, h, w))
            )
        if probs.ndim != 4 or probs.shape[-2:] != (h, w):
            raise ValueError(
                f'{self.path}: the graph gave {probs.shape}; expected N x K x {h} x {w}'
            )
        return probs

    def __call__(self, batch: TileBatch) -> np.ndarray:
        x = batch.inputs[self.name]
        if x.ndim == 5:  # a series or pair, date-major as the loaders stack it
            x = x.reshape(x.shape[0], -1, *x.shape[-2:])
        return self.predict_array(x)
