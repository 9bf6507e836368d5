"""NWPU-RESISC45 (Cheng et al. 2017): 31,500 RGB images of 256 x 256 in 45 class folders."""

from mmskysense.registry import DATASETS

from .scene_folder import SceneFolderDataset

RESISC45_CLASSES = (
    'airplane',
    'airport',
    'baseball_diamond',
    'basketball_court',
    'beach',
    'bridge',
    'chaparral',
    'church',
    'circular_farmland',
    'cloud',
    'commercial_area',
    'dense_residential',
    'desert',
    'forest',
    'freeway',
    'golf_course',
    'ground_track_field',
    'harbor',
    'industrial_area',
    'intersection',
    'island',
    'lake',
    'meadow',
    'medium_residential',
    'mobile_home_park',
    'mountain',
    'overpass',
    'palace',
    'parking_lot',
    'railway',
    'railway_station',
    'rectangular_farmland',
    'river',
    'roundabout',
    'runway',
    'sea_ice',
    'ship',
    'snowberg',
    'sparse_residential',
    'stadium',
    'storage_tank',
    'tennis_court',
    'terrace',
    'thermal_power_station',
    'wetland',
)


@DATASETS.register_module()
class RESISC45Dataset(SceneFolderDataset):
    """NWPU-RESISC45 as released: ``NWPU-RESISC45/<class>/<class>_<nnn>.jpg``.

    Paper TR: 10% and 20%.
    """

    METAINFO = dict(classes=RESISC45_CLASSES)
