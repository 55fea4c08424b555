"""Reconstruct a folder of photos with slamfeat features and pycolmap, and look at the result.
Copy and edit: it uses only slamfeat's public API.

    python apps/reconstruct_folder.py PHOTOS_DIR [--model disk] [--out out/reconstruction]

Every step keeps its file in the output folder (features.h5, matches.h5, database.db), so a
second run, with another mapper for instance, starts where the first stopped.
"""

import argparse

import pycolmap

from slamfeat.reconstruction import ReconstructionConfig, reconstruct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", help="folder of photos (or an AirSim recording)")
    parser.add_argument("--model", default="disk", help="extractor (default disk)")
    parser.add_argument("--out", default="out/reconstruction", help="output folder")
    parser.add_argument("--pairs", default="exhaustive", help="exhaustive | sequential:K | a pairs file")
    args = parser.parse_args()

    config = ReconstructionConfig(model=args.model, pairs=args.pairs, single_camera=True,
                                  extractor_conf={"max_keypoints": 2048})
    report = reconstruct(args.images, args.out, config)
    print(f"{report['registered_images']} of {report['num_images']} images registered, "
          f"{report['points3D']} points, reprojection error {report['mean_reproj_error'] or 0:.2f} px")
    if report["registered_images"]:
        model = pycolmap.Reconstruction(f"{args.out}/model")  # COLMAP's format: open it in COLMAP too
        print(model.summary())
        print(f"point cloud: {args.out}/points.ply")


if __name__ == "__main__":
    main()
