"""Build the pretraining sample index from a folder of GeoTIFF sample folders.

    python tools/dataset_converters/build_geo_index.py DATA/samples DATA/index.json

Reads every file's header (bounds, CRS, band count, acquisition dates) and writes the index of
docs/data_format.md; a bad folder stops the build with a message naming the file, or is left
out and listed with ``--skip-bad``. The root may be a URL prefix of sample folders of COGs
(``https://host/samples``, read by range requests): a URL cannot be listed, so name the sample
folders with ``--samples``; the index keeps the files' URLs.
"""

import argparse
import sys

from mmskysense.datasets.geo.index import build_geo_index
from mmskysense.datasets.raster import GeoSampleError, RemoteOptions


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='folder (or URL prefix) with one sub-folder per sample')
    parser.add_argument('out', help='index JSON to write (paths inside are relative to it)')
    parser.add_argument(
        '--skip-bad',
        action='store_true',
        help='leave bad sample folders out (listed in metainfo.skipped)',
    )
    parser.add_argument(
        '--samples',
        nargs='+',
        default=None,
        metavar='NAME',
        help='only these sample folders (required for a URL root, which cannot be listed)',
    )
    parser.add_argument('--s2-bands', type=int, default=10, help='S2 bands per date')
    parser.add_argument('--s1-bands', type=int, default=2, help='S1 bands per date')
    parser.add_argument('--hr-bands', type=int, default=3, help='HR bands')
    parser.add_argument(
        '--region-grid',
        type=int,
        nargs=2,
        default=(64, 64),
        metavar=('N_LAT', 'N_LON'),
        help='lat/lon grid of region ids when hr.tif has no REGION_ID tag',
    )
    RemoteOptions.add_arguments(parser)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        with RemoteOptions.from_args(args).env():
            content = build_geo_index(
                args.root,
                args.out,
                bands_per_date=dict(hr=args.hr_bands, s2=args.s2_bands, s1=args.s1_bands),
                region_grid=tuple(args.region_grid),
                on_bad_sample='skip' if args.skip_bad else 'raise',
                sample_dirs=args.samples,
            )
    except (GeoSampleError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    skipped = content['metainfo']['skipped']
    print(f'wrote {args.out}: {len(content["data_list"])} samples, {len(skipped)} skipped')
    for item in skipped:
        print(f'  skipped {item["sample"]}: {item["error"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
