"""Facts of the real releases the fake generators reproduce, transcribed from the releases and
their authors' files (each source named), independently of mmskysense's readers.

Tests compare the readers against these tables, so the tables must never be imported from the
code under test.
"""

# AID: the 30 class folders of the release (CAPTAIN-WHU/AID); images <classname>_<n>.jpg
AID_FOLDERS = (
    'Airport', 'BareLand', 'BaseballField', 'Beach', 'Bridge', 'Center', 'Church', 'Commercial',
    'DenseResidential', 'Desert', 'Farmland', 'Forest', 'Industrial', 'Meadow',
    'MediumResidential', 'Mountain', 'Park', 'Parking', 'Playground', 'Pond', 'Port',
    'RailwayStation', 'Resort', 'River', 'School', 'SparseResidential', 'Square', 'Stadium',
    'StorageTanks', 'Viaduct',
)  # fmt: skip

# NWPU-RESISC45: the 45 class folders (TorchGeo's RESISC45 docstring lists the same)
RESISC45_FOLDERS = (
    'airplane', 'airport', 'baseball_diamond', 'basketball_court', 'beach', 'bridge',
    'chaparral', 'church', 'circular_farmland', 'cloud', 'commercial_area', 'dense_residential',
    'desert', 'forest', 'freeway', 'golf_course', 'ground_track_field', 'harbor',
    'industrial_area', 'intersection', 'island', 'lake', 'meadow', 'medium_residential',
    'mobile_home_park', 'mountain', 'overpass', 'palace', 'parking_lot', 'railway',
    'railway_station', 'rectangular_farmland', 'river', 'roundabout', 'runway', 'sea_ice', 'ship',
    'snowberg', 'sparse_residential', 'stadium', 'storage_tank', 'tennis_court', 'terrace',
    'thermal_power_station', 'wetland',
)  # fmt: skip

# fMoW-Sentinel: the 62 categories (SatMAE util/datasets.py CATEGORIES)
FMOW_CATEGORIES = (
    'airport', 'airport_hangar', 'airport_terminal', 'amusement_park', 'aquaculture',
    'archaeological_site', 'barn', 'border_checkpoint', 'burial_site', 'car_dealership',
    'construction_site', 'crop_field', 'dam', 'debris_or_rubble', 'educational_institution',
    'electric_substation', 'factory_or_powerplant', 'fire_station', 'flooded_road', 'fountain',
    'gas_station', 'golf_course', 'ground_transportation_station', 'helipad', 'hospital',
    'impoverished_settlement', 'interchange', 'lake_or_pond', 'lighthouse', 'military_facility',
    'multi-unit_residential', 'nuclear_powerplant', 'office_building', 'oil_or_gas_facility',
    'park', 'parking_lot_or_garage', 'place_of_worship', 'police_station', 'port', 'prison',
    'race_track', 'railway_bridge', 'recreational_facility', 'road_bridge', 'runway', 'shipyard',
    'shopping_mall', 'single-unit_residential', 'smokestack', 'solar_farm', 'space_facility',
    'stadium', 'storage_tank', 'surface_mine', 'swimming_pool', 'toll_booth', 'tower',
    'tunnel_opening', 'waste_disposal', 'water_treatment_facility', 'wind_farm', 'zoo',
)  # fmt: skip

# iSAID: RGB colour of each class id 0..15 in the *_instance_color_RGB.png masks
# (mmsegmentation tools/dataset_converters/isaid.py, iSAID_palette)
ISAID_MASK_COLOURS = (
    (0, 0, 0), (0, 0, 63), (0, 63, 63), (0, 63, 0), (0, 63, 127), (0, 63, 191), (0, 63, 255),
    (0, 127, 63), (0, 127, 127), (0, 0, 127), (0, 0, 191), (0, 0, 255), (0, 191, 127),
    (0, 127, 191), (0, 127, 255), (0, 100, 155),
)  # fmt: skip

# ISPRS Potsdam label colours: impervious surfaces, building, low vegetation, tree, car, clutter
# (ISPRS benchmark description; TorchGeo's Potsdam2D colormap lists the same codes)
POTSDAM_LABEL_COLOURS = (
    (255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0),
)  # fmt: skip

# BigEarthNet: label_indices.json of the BigEarthNet-S2_19-classes_models repository
# (git.tu-berlin.de/rsim): the 43 CORINE names of the release's json files, the 19-class names,
# and label_conversion (for each 19-class index, the 43-class indices it merges). The 11
# 43-class indices in no group are not part of the 19-class nomenclature.
BEN_LABEL_INDICES = dict(
    original_labels={
        'Continuous urban fabric': 0,
        'Discontinuous urban fabric': 1,
        'Industrial or commercial units': 2,
        'Road and rail networks and associated land': 3,
        'Port areas': 4,
        'Airports': 5,
        'Mineral extraction sites': 6,
        'Dump sites': 7,
        'Construction sites': 8,
        'Green urban areas': 9,
        'Sport and leisure facilities': 10,
        'Non-irrigated arable land': 11,
        'Permanently irrigated land': 12,
        'Rice fields': 13,
        'Vineyards': 14,
        'Fruit trees and berry plantations': 15,
        'Olive groves': 16,
        'Pastures': 17,
        'Annual crops associated with permanent crops': 18,
        'Complex cultivation patterns': 19,
        'Land principally occupied by agriculture, with significant areas of natural '
        'vegetation': 20,
        'Agro-forestry areas': 21,
        'Broad-leaved forest': 22,
        'Coniferous forest': 23,
        'Mixed forest': 24,
        'Natural grassland': 25,
        'Moors and heathland': 26,
        'Sclerophyllous vegetation': 27,
        'Transitional woodland/shrub': 28,
        'Beaches, dunes, sands': 29,
        'Bare rock': 30,
        'Sparsely vegetated areas': 31,
        'Burnt areas': 32,
        'Inland marshes': 33,
        'Peatbogs': 34,
        'Salt marshes': 35,
        'Salines': 36,
        'Intertidal flats': 37,
        'Water courses': 38,
        'Water bodies': 39,
        'Coastal lagoons': 40,
        'Estuaries': 41,
        'Sea and ocean': 42,
    },
    label_conversion=[
        [0, 1],
        [2],
        [11, 12, 13],
        [14, 15, 16, 18],
        [17],
        [19],
        [20],
        [21],
        [22],
        [23],
        [24],
        [25, 31],
        [26, 27],
        [28],
        [29],
        [33, 34],
        [35, 36],
        [38, 39],
        [40, 41, 42],
    ],  # fmt: skip
)


def ben_official_19(names) -> list[int]:
    """The official 19-class indices of a patch's 43-class names (label_conversion)."""
    index = BEN_LABEL_INDICES['original_labels']
    to19 = {o: i for i, group in enumerate(BEN_LABEL_INDICES['label_conversion']) for o in group}
    return sorted({to19[index[n]] for n in names if index[n] in to19})


def ben_dropped_names() -> list[str]:
    """The 43-class names outside the 19-class nomenclature."""
    grouped = {o for group in BEN_LABEL_INDICES['label_conversion'] for o in group}
    return [n for n, i in BEN_LABEL_INDICES['original_labels'].items() if i not in grouped]


# DynamicEarthNet: Planet statistics the authors publish with their loader (aysim/dynnet
# data/utae_dynamicen.py), for the bands as that loader stacks them: R, G, B, NIR
DYNNET_PLANET_MEAN_RGBN = (1042.59240722656, 915.618408203125, 671.260559082031, 2605.20922851562)
DYNNET_PLANET_STD_RGBN = (957.958435058593, 715.548767089843, 596.943908691406, 1059.90319824218)

# BigEarthNet-S1 v1.0 sigma0 statistics in dB (BigEarthNet-MM tools, BAND_STATS['S1'])
BEN_S1_DB_MEAN = dict(VV=-12.619993741972035, VH=-19.29044597721542)
BEN_S1_DB_STD = dict(VV=5.115911777546365, VH=5.464428464912864)
