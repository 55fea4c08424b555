"""The settings of a reconstruction, and the image set it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.airsim import read_recording
from ..errors import BadInput
from ..features import DEFAULT_MODEL
from ..io import list_images


@dataclass
class ReconstructionConfig:
    """Everything that decides a run; written beside its outputs as ``config.json``."""

    model: str = DEFAULT_MODEL  # extractor name or student checkpoint PATH.pt
    weights: str | None = None  # weights file of the model (superpoint needs one)
    extractor_conf: dict = field(default_factory=dict)  # max_keypoints, resize_max, ...
    pairs: str = "exhaustive"  # exhaustive | sequential:K | a pairs file
    matcher: str = "nn"
    matcher_conf: dict = field(default_factory=dict)
    camera_model: str = "SIMPLE_RADIAL"  # a COLMAP camera model
    camera_params: str = ""  # COLMAP's comma-separated parameters (fixed); empty = estimated
    single_camera: bool = False  # one camera shared by all images
    mapper: str = "incremental"  # incremental | global
    # px; COLMAP's 4 lets a wrong initial pair through on short sequences of accurate features,
    # and incremental mapping never recovers from it (13° rotation errors on a rendered sequence)
    init_max_error: float = 1.5
    compare_sift: bool = False  # also run pycolmap's SIFT pipeline
    device: str = "auto"
    seed: int = 0
    overwrite: bool = False  # recompute every intermediate file

    def features_part(self) -> dict:
        return {k: getattr(self, k) for k in ("model", "weights", "extractor_conf", "matcher", "matcher_conf")}

    def database_part(self) -> dict:
        return {k: getattr(self, k) for k in ("pairs", "camera_model", "camera_params", "single_camera")}


@dataclass
class CameraSetup:
    """How pycolmap models the cameras: a COLMAP camera model, its parameters when known (then
    kept fixed by the mapper), and whether all images share one camera."""

    model: str = "SIMPLE_RADIAL"
    params: str = ""
    single: bool = False

    @property
    def known(self) -> bool:
        return bool(self.params)


@dataclass
class ImageSet:
    """Images to reconstruct: a folder, the names in it, and when known the ground-truth poses
    (name → ``4×4`` camera-to-world, OpenCV axes) and the intrinsics ``K`` (3×3, pixel centres)."""

    image_dir: Path
    names: list[str]
    truth: dict[str, np.ndarray] | None = None
    K: np.ndarray | None = None


def find_images(images: str | Path) -> ImageSet:
    """The images of a folder, or of an AirSim recording (``images`` is its root or its
    ``images/`` folder) with its poses and intrinsics.

    An AirSim recording contributes the camera images its ``airsim_rec.txt`` lists (not the
    depth images beside them); a plain folder every image directly inside it.
    """
    images = Path(images)
    for root in (images, images.parent):
        if (root / "airsim_rec.txt").is_file():
            recording = read_recording(root)
            if not recording.frames:
                raise BadInput(f"{root / 'airsim_rec.txt'}: no frames in this recording")
            truth = {Path(f.image_path).name: np.asarray(f.T_world_cam, dtype=np.float64) for f in recording.frames}
            return ImageSet(Path(recording.frames[0].image_path).parent, list(truth), truth,
                            np.asarray(recording.K, dtype=np.float64))
    return ImageSet(images, [p.name for p in list_images(images)])


def camera_setup(config: ReconstructionConfig, images: ImageSet) -> CameraSetup:
    """The cameras of the run: as configured, or for a recording with known intrinsics and no
    ``camera_params`` given, one fixed PINHOLE camera from its ``K`` (moved to COLMAP's
    convention, (0, 0) = corner of the top-left pixel)."""
    if images.K is not None and not config.camera_params:
        K = images.K
        params = f"{K[0, 0]:.6f},{K[1, 1]:.6f},{K[0, 2] + 0.5:.6f},{K[1, 2] + 0.5:.6f}"
        return CameraSetup("PINHOLE", params, True)
    check_camera(config.camera_model, config.camera_params)
    return CameraSetup(config.camera_model, config.camera_params, config.single_camera)


def check_camera(model: str, params: str) -> None:
    """Raise :class:`BadInput` for an unknown COLMAP camera model or a wrong parameter list."""
    import pycolmap

    models = [m for m in pycolmap.CameraModelId.__members__ if m != "INVALID"]
    if model not in models:
        raise BadInput(f"camera model {model!r}: unknown; COLMAP's models are {', '.join(models)}", option="camera_model")
    if not params:
        return
    needed = len(pycolmap.Camera.create_from_model_id(0, pycolmap.CameraModelId.__members__[model], 1.0, 2, 2).params)
    try:
        values = [float(v) for v in params.split(",")]
    except ValueError:
        values = []
    if len(values) != needed:
        raise BadInput(f"camera parameters {params!r}: {model} takes {needed} comma-separated numbers",
                       option="camera_params")
    if not all(np.isfinite(values)):
        raise BadInput(f"camera parameters {params!r}: expected finite numbers", option="camera_params")
    if values[0] <= 0:
        raise BadInput(f"camera parameters {params!r}: the focal length must be positive", option="camera_params")
