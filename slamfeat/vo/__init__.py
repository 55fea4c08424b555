"""Monocular visual odometry: a tracker over a local map of keyframes and triangulated points.

Four lines run it::

    from slamfeat import load_extractor
    from slamfeat.vo import open_source, choose_camera, run_vo
    source = open_source("video.mp4"); camera = choose_camera(source, fov=90)
    report, outputs = run_vo(source, load_extractor("slamfeat-lite"), camera, "out/vo")
"""

from .config import VOConfig
from .frontend import VisualOdometry
from .metrics import absolute_trajectory_error, relative_pose_error, trajectory_errors, umeyama_sim3
from .results import FrameResult, FrameStatus, TrackerState
from .run import VOOutputs, run_vo
from .sources import Camera, FrameSource, choose_camera, open_source

__all__ = ["VOConfig", "VisualOdometry", "FrameResult", "FrameStatus", "TrackerState", "run_vo", "VOOutputs",
           "open_source", "choose_camera", "Camera", "FrameSource", "absolute_trajectory_error", "relative_pose_error",
           "trajectory_errors", "umeyama_sim3"]
