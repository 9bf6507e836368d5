"""AID (Xia et al. 2017): 10,000 RGB images of 600 x 600 in 30 class folders."""

from mmskysense.registry import DATASETS

from .scene_folder import SceneFolderDataset

AID_CLASSES = (
    'Airport',
    'BareLand',
    'BaseballField',
    'Beach',
    'Bridge',
    'Center',
    'Church',
    'Commercial',
    'DenseResidential',
    'Desert',
    'Farmland',
    'Forest',
    'Industrial',
    'Meadow',
    'MediumResidential',
    'Mountain',
    'Park',
    'Parking',
    'Playground',
    'Pond',
    'Port',
    'RailwayStation',
    'Resort',
    'River',
    'School',
    'SparseResidential',
    'Square',
    'Stadium',
    'StorageTanks',
    'Viaduct',
)


@DATASETS.register_module()
class AIDDataset(SceneFolderDataset):
    """AID as released: ``AID/<ClassName>/<classname>_<n>.jpg``. Paper TR: 20% and 50%."""

    METAINFO = dict(classes=AID_CLASSES)
