"""Change maps from two GeoTIFFs of the same ground at two dates, by tiles with bounded memory.

A change pair is opened under the exact-grid policy of ``SceneInputs.open`` (docs/interfaces.md,
Opening policies): the two scenes must share a CRS, a pixel size and a pixel grid; they may
differ by a whole-pixel window offset (one scene cut from a larger grid, say), and their overlap
is computed there, once. Nothing is resampled: a fractional offset, another resolution, a
rotation or another CRS is refused with both files named (resample one scene onto the other's
grid first, e.g. with ``gdalwarp``).

The change map covers the overlap: its CRS is the scenes', its transform the overlap's, and it
holds ``0`` (unchanged), ``1`` (changed) or ``nodata_value`` where either date has no data (in
all its bands). It is the one loop of every scene path: the pair is a scene of one two-date
series input, whose tiles (``N x 2C x h x w``, date 1's bands then date 2's, the change
detector's input) go through the change detector's adapter once each and into the class-map
sink (``segment_scene``: ``run_tiles`` into a ``BlendAccumulator``).
"""

from collections.abc import Sequence
from typing import Any

from .scene.contract import CHANGE_CLASSES, CHANGE_PALETTE
from .scene.inputs import SceneInputs
from .scene.runner import is_torch_module, segment_scene, warn_unused_block
from .scene.spec import ModalityInput, SceneSpec, scene_spec
from .scene.writer import DEFAULT_NODATA


def change_pair_spec(model: Any = None, bands: Sequence[int] | None = None) -> SceneSpec:
    """The input of a change detector: one two-date series, defined where both dates hold data,
    under the exact-grid policy; from the model's config when it carries one (``init_model``),
    so that the same detector reads the same bands through every entry point."""
    cfg = getattr(model, 'cfg', None)
    if cfg is not None:
        return scene_spec(cfg, bands, task='change')
    m = ModalityInput('img', num_dates=2, bands=list(bands) if bands else None)
    return SceneSpec([m], valid_dates='all', policy='exact')


def change_map_geotiff(
    model: Any,
    inputs: Sequence[str],
    output: str,
    num_classes: int | None = None,
    *,
    tile: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    block: int | None = None,
    bands: Sequence[int] | None = None,
    nodata_value: int = DEFAULT_NODATA,
    progress: bool = True,
    gdal_cache_mb: int = 16,
    class_names: Sequence[str] | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    confidence: bool = False,
    device: str = 'cpu',
) -> str:
    """Write the change map of the overlap of the pair ``inputs = (date1, date2)`` to
    ``output`` (the scene entry points' convention: ``(model, inputs, output, classes, *,
    options)``).

    Args:
        model: a change detector (its adapter, ``build_adapter``; its config, when it carries
            one, says its input), or a function of the tiles ``N x 2C x h x w`` (date 1's bands,
            then date 2's; the rasters' dtype) -> probabilities ``N x num_classes x h x w``.
        inputs: the GeoTIFFs of the two dates.
        output: the change-map GeoTIFF.
        num_classes: classes the model predicts (default: ``len(class_names)``, else 2:
            unchanged / changed).
        tile: tile size, as in ``segment_geotiff``.
        overlap: overlap of neighbouring tiles, as in ``segment_geotiff``.
        batch_size: tiles per forward pass, as in ``segment_geotiff``.
        block: unused (the block algorithm's output block; a FutureWarning when given).
        bands: 1-based bands read from both scenes, in the model's order (default: all; the
            scenes must then have the same band count).
        nodata_value: written where either date has no data.
        gdal_cache_mb: GDAL's block cache for this call (memory must not grow with the scene).
        class_names: stored in the file (default: ``CHANGE_CLASSES`` for two classes).
        palette: stored in the file (default: ``CHANGE_PALETTE`` for two classes).
        confidence: also write the confidence band.
        device: where a model (not a function) runs.
    Returns:
        ``output``.
    """
    warn_unused_block(block)
    if isinstance(inputs, str) or len(inputs) != 2:
        raise ValueError(f'a change map takes the pair (date1, date2), got {inputs!r}')
    if num_classes is None:
        num_classes = len(class_names) if class_names else len(CHANGE_CLASSES)
    if not 0 < num_classes <= nodata_value:
        raise ValueError(f'num_classes must be in 1..{nodata_value}, got {num_classes}')
    if num_classes == len(CHANGE_CLASSES):
        class_names = CHANGE_CLASSES if class_names is None else class_names
        palette = CHANGE_PALETTE if palette is None else palette
    if not is_torch_module(model):
        from .scene.adapters import TensorFunctionAdapter

        model = TensorFunctionAdapter(model)
    spec = change_pair_spec(model, bands)
    with SceneInputs.open(spec, {spec.reference.name: list(inputs)}, policy='exact') as scene:
        result = segment_scene(
            model,
            scene,
            output,
            num_classes,
            tile=tile,
            overlap=overlap,
            batch_size=batch_size,
            confidence=confidence,
            class_names=class_names,
            palette=palette,
            nodata=nodata_value,
            progress=progress,
            gdal_cache_mb=gdal_cache_mb,
            device=device,
        )
    return result.path


def write_change_preview(
    change_map_path: str,
    png_path: str,
    date1_path: str,
    date2_path: str,
    image_bands: Sequence[int] = (1, 2, 3),
    max_size: int = 768,
) -> str:
    """A PNG of the two dates over the overlap (``image_bands``, contrast-stretched) beside the
    change map, read decimated so large scenes stay cheap (``write_preview``)."""
    from mmskysense.visualization import write_preview

    return write_preview(
        change_map_path,
        png_path,
        CHANGE_CLASSES,
        CHANGE_PALETTE,
        max_size=max_size,
        title='change map',
        image_path=[date1_path, date2_path],
        image_bands=image_bands,
        nodata_label='no data (either date)',
    )


__all__ = [
    'CHANGE_CLASSES',
    'CHANGE_PALETTE',
    'change_map_geotiff',
    'change_pair_spec',
    'write_change_preview',
]
