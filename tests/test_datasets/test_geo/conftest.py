"""Shared helpers of the geo data pipeline tests: small synthetic samples and pipelines."""

from collections.abc import Callable
from typing import Any

import pytest


def make_pipeline(
    num_frames: dict[str, int] | None = None,
    flip_rotate: bool = True,
    photometric: bool = False,
    frames_mode: str = 'random',
    **crop_kwargs: Any,
) -> list[dict]:
    """A pretraining pipeline config; geometry-only unless ``photometric``."""
    pipeline = [
        dict(
            type='SampleTemporalFrames',
            num_frames=num_frames or dict(s2=10, s1=5),
            mode=frames_mode,
        ),
        dict(type='GeoMultiCrop', **crop_kwargs),
    ]
    if flip_rotate:
        pipeline.append(dict(type='GeoRandomFlipRotate'))
    if photometric:
        pipeline += [
            dict(type='RandomHRColorJitter'),
            dict(
                type='RandomSpectralJitter',
                modality='s2',
                gain_std=0.05,
                bias_std=0.005,
                noise_std=0.002,
                clip=(0.0, 2.0),
            ),
            dict(type='RandomSpectralJitter', modality='s1', bias_std=0.5, noise_std=0.3),
        ]
    pipeline.append(dict(type='PackSkySenseInputs'))
    return pipeline


@pytest.fixture
def geo_pipeline() -> Callable[..., list[dict]]:
    """``make_pipeline`` as a fixture (test modules cannot import conftest under importlib)."""
    return make_pipeline


@pytest.fixture
def geo_data(tmp_path) -> Callable[..., dict[str, Any]]:
    """Factory: write a small synthetic dataset under a fresh folder, return the generator's
    description (``root``, ``index_path``, ``samples``)."""
    from mmskysense.datasets.geo.synthetic import generate_geo_dataset

    counter = [0]

    def make(**kwargs: Any) -> dict[str, Any]:
        counter[0] += 1
        kwargs.setdefault('num_samples', 1)
        return generate_geo_dataset(str(tmp_path / f'geo{counter[0]}'), **kwargs)

    return make


@pytest.fixture
def build_dataset() -> Callable[..., Any]:
    """Factory: a GeoMultiModalDataset from an index path and a pipeline config."""
    from mmengine.registry import DefaultScope

    from mmskysense.datasets.geo import GeoMultiModalDataset

    def make(index_path: str, pipeline: list[dict] | None = None, **kwargs: Any) -> Any:
        # the pipeline's dict configs are built in the mmskysense scope, whatever scope other
        # tests of the session left current
        with DefaultScope.overwrite_default_scope('mmskysense'):
            return GeoMultiModalDataset(
                ann_file=index_path, pipeline=pipeline or make_pipeline(), **kwargs
            )

    return make
