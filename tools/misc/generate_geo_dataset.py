"""Generate realistic synthetic geo-aligned GeoTIFF samples (HR, S2, S1, OSM labels) and an index.

    python tools/misc/generate_geo_dataset.py data/geo_demo --num-samples 4
    python tools/misc/generate_geo_dataset.py data/geo_paper --num-samples 2 --hr-size 2048
    python tools/misc/generate_geo_dataset.py data/geo_texture --num-samples 32 --world texture
    # the same imagery, its OSM labels at two coarser classes (world classes 0+3 and 1+2+4)
    python tools/misc/generate_geo_dataset.py data/geo_texture2 --num-samples 32 --world texture \
        --osm-groups 0,3/1,2,4

The defaults are small (HR 256 px at 0.3125 m = 80 m, S2/S1 8 x 8 at 10 m); ``--hr-size 2048``
gives the paper's sample (640 m, S2/S1 64 x 64). ``--world texture``: land-cover classes that
differ by HR texture and structure only, colour random per region. See
mmskysense/datasets/geo/synthetic.py.
"""

import argparse

from mmskysense.datasets.geo.synthetic import WORLDS, generate_geo_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir', help='writes OUT_DIR/samples/<id>/ and OUT_DIR/index.json')
    parser.add_argument('--num-samples', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--hr-size', type=int, default=256, help='HR pixels per side')
    parser.add_argument('--hr-gsd', type=float, default=0.3125, help='HR metres per pixel')
    parser.add_argument('--ms-gsd', type=float, default=10.0, help='S2/S1 metres per pixel')
    parser.add_argument('--s2-dates', type=int, default=12)
    parser.add_argument('--s1-dates', type=int, default=6)
    parser.add_argument('--s2-layout', choices=('per_date', 'multi_date'), default='per_date')
    parser.add_argument('--s1-layout', choices=('per_date', 'multi_date'), default='multi_date')
    parser.add_argument('--no-osm', action='store_true', help='no OSM-like label raster')
    parser.add_argument('--no-nodata', action='store_true', help='no nodata holes')
    parser.add_argument(
        '--world',
        choices=WORLDS,
        default='colour',
        help='colour: classes by colour and spectrum; texture: by HR structure only',
    )
    parser.add_argument(
        '--osm-groups',
        type=_groups,
        default=None,
        help="OSM classes as groups of the world's classes, e.g. 0,3/1,2,4 (merged classes)",
    )
    return parser.parse_args()


def _groups(text: str) -> list[list[int]]:
    try:
        return [[int(c) for c in g.split(',')] for g in text.split('/')]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'--osm-groups: expected groups of class indices like 0,3/1,2,4, got {text!r}'
        ) from None


def main() -> None:
    args = parse_args()
    out = generate_geo_dataset(
        args.out_dir,
        num_samples=args.num_samples,
        seed=args.seed,
        hr_size=args.hr_size,
        hr_gsd=args.hr_gsd,
        ms_gsd=args.ms_gsd,
        num_s2_dates=args.s2_dates,
        num_s1_dates=args.s1_dates,
        s2_layout=args.s2_layout,
        s1_layout=args.s1_layout,
        with_osm=not args.no_osm,
        nodata=not args.no_nodata,
        world=args.world,
        osm_groups=args.osm_groups,
    )
    print(f'wrote {len(out["samples"])} samples under {out["root"]} and {out["index_path"]}')


if __name__ == '__main__':
    main()
