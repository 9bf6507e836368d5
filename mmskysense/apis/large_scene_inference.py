"""The former home of large-scene segmentation; its names now live in ``mmskysense.apis.scene``
(the parts: ``mmskysense.datasets.tiling``, ``mmskysense.datasets.raster``,
``mmskysense.apis.scene.{spec,inputs,adapters,accumulator,writer,runner}``)."""

from mmskysense.datasets.tiling import TileGrid

from .scene import DEFAULT_NODATA, blend_window, segment_geotiff, segmentor_predict_fn

__all__ = ['DEFAULT_NODATA', 'TileGrid', 'blend_window', 'segment_geotiff', 'segmentor_predict_fn']
