"""3-D reconstruction with pycolmap from slamfeat's features and matches.

Example:
    >>> report = reconstruct("photos/", "out/", ReconstructionConfig(model="disk"))
    >>> report["registered_images"], report["mean_reproj_error"]
"""

from .config import CameraSetup, ImageSet, ReconstructionConfig, camera_setup, find_images
from .database import COLMAP_PIXEL_OFFSET, database_is_complete, database_statistics, import_images, write_database
from .mapping import run_mapper, summarise
from .model import camera_poses, largest_model, model_statistics, points_to_ply, save_model
from .pipeline import reconstruct
from .pose_error import aligned_pose_error, trajectory_extent
from .sift import sift_reconstruct

__all__ = ["COLMAP_PIXEL_OFFSET", "CameraSetup", "ImageSet", "camera_setup", "ReconstructionConfig", "camera_poses", "database_is_complete", "database_statistics",
           "find_images", "import_images", "largest_model", "model_statistics", "points_to_ply",
           "aligned_pose_error", "reconstruct", "run_mapper", "save_model", "sift_reconstruct",
           "summarise", "trajectory_extent", "write_database"]
