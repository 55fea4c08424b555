"""The visual-odometry front end's settings, one dataclass with every default."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadInput
from ..matching.matcher import MatcherConfig

AUTO = "auto"  # VOConfig.fallback_matcher: LightGlue behind mutual NN where the features have one


@dataclass
class VOConfig:
    """Every knob of the front end, with its default."""

    min_init_matches: int = 100  # matches to the initialisation reference before trying
    min_init_points: int = 60  # triangulated points needed to accept an initialisation
    min_init_parallax_deg: float = 2.0  # median ray angle of those points (1° gives poor first maps)
    max_init_frames: int = 20  # an initialisation reference older than this is replaced
    essential_ransac_px: float = 1.0
    pnp_reprojection_px: float = 3.0
    pnp_refine_px: float | None = None  # refine the pose again on the inliers this close (None: off)
    pnp_iterations: int = 100
    # PnP inliers below this: the frame is lost (ORB-SLAM2: 30, and 50 soon after a relocalisation). A frame posed
    # on 20–50 points in a whip turn, made a keyframe, seeds new points from a poorly fixed baseline and the map's
    # scale collapses after it; lost, it is bridged by its two-view geometry, which holds the scale (stop 29)
    min_tracked_points: int = 50
    # PnP poses a frame on the matched points that at least this many keyframes observed (the two that
    # triangulated a point and those that tracked it since), when pnp_min_views_points of them are matched,
    # then refines the pose once on every match within pnp_reprojection_px of it. The points the last two
    # keyframes made in a turn, seen under a degree or two, carry the scale poorly and only count where they
    # agree with the older ones (≤ 2: every point poses the frame)
    pnp_min_views: int = 0
    pnp_min_views_points: int = 40
    # new keyframe when tracked points < ratio × those of the first frame after it (0.6 until stop 29: keyframes
    # closer together through a turn share more points, and the scale carries through it better)
    keyframe_min_ratio: float = 0.75
    keyframe_min_points: int = 60  # ... or fewer than this
    keyframe_max_gap: int = 15  # ... or after this many frames
    triangulation_px: float = 2.0  # max reprojection error of a new point
    triangulation_min_angle_deg: float = 0.8
    ba_window: int = 5  # keyframes in the local bundle adjustment (0 = none)
    ba_iterations: int = 8
    # up to this many keyframes before the window add their observations of the window's points, their poses
    # held still (0 = none)
    ba_anchor_keyframes: int = 0
    ba_gate_px: float = 12.0  # observations this far off stay out of the adjustment
    ba_outlier_px: float = 4.0
    # a frame the last keyframe cannot place is matched against the last tracked frame's map points before it
    # is lost (ORB-SLAM's motion-model tracking: through a fast turn the last frame still overlaps it)
    track_last_frame: bool = True
    # after tracking, the points of this many last keyframes are found again by projection and the pose is
    # refined on them too (0 = off; see vo/local_map.py)
    local_map_keyframes: int = 0
    local_map_radius_px: float = 2.0  # search radius around a projected point
    local_map_ratio: float = 0.9  # Lowe's ratio against the next keypoint in the radius
    local_map_min_similarity: float = 0.5  # cosine (float descriptors) or 1 − Hamming/D (binary) at least
    # the trajectory written: each frame's pose relative to its keyframe on that keyframe's last pose (True, as
    # ORB-SLAM writes it; bundle adjustment moves keyframes after their frames were tracked) or the poses as
    # tracked, frame by frame (False)
    final_poses: bool = True
    relocalise: bool = True  # when lost, try PnP against the last keyframe before re-initialising
    # frames that cannot be placed are chained by their two-view geometry from the last tracked one, and a new
    # map starts at the chained pose (vo/bridge.py)
    bridge_lost_frames: bool = True
    bridge_min_inliers: int = 50  # essential-matrix inliers a link of that chain needs
    reinitialise_after: int = 3  # lost frames before a new initialisation starts
    matcher: MatcherConfig = field(default_factory=MatcherConfig)  # nn (the features' defaults) or lightglue
    # tried on a frame that ``matcher`` cannot track, before the frame counts as lost, and on the links of a
    # bridge (LightGlue behind mutual NN: NN's speed on most frames, LightGlue's robustness on fast turns);
    # AUTO (the default): the features' LightGlue behind mutual NN when they have one, else none; None: none
    fallback_matcher: MatcherConfig | str | None = AUTO
    matcher_device: str | None = None

    def __post_init__(self) -> None:
        if not (self.fallback_matcher is None or self.fallback_matcher == AUTO
                or isinstance(self.fallback_matcher, MatcherConfig)):
            raise BadInput(f"fallback matcher {self.fallback_matcher!r}: expected a MatcherConfig, {AUTO!r} or None",
                           option="fallback_matcher")
        if not self.local_map_keyframes >= 0:
            raise BadInput(f"local map {self.local_map_keyframes}: expected 0 (off) or a number of keyframes",
                           option="local_map")
