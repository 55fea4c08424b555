"""Which step of the VO front end LightGlue helps or hurts: the ablations of README's matcher section.

    python scripts/vo_matcher_ablation.py runs/hard_sequence VARIANT [--pnp-px PX] [--refine-px PX] [vo flags …]

VARIANT: ``nn`` and ``lightglue`` (the plain matchers), ``lightglue-track`` (LightGlue to track,
mutual NN for the first map and new points), ``lightglue-map`` (the other way round),
``union`` (LightGlue's matches plus the mutual-NN ones on keypoints it left unmatched) and
``agree`` (only the LightGlue matches whose keypoints are each other's nearest descriptor on one
side). ``--pnp-px`` sets the tracker's PnP inlier threshold (``VOConfig.pnp_reprojection_px``, 3 px),
``--refine-px`` its second refinement (``VOConfig.pnp_refine_px``, off); ``--keep DIR`` keeps the
run's outputs (trajectory, report) in DIR, ``--set FIELD=VALUE`` sets any number of ``VOConfig``.
``--ransac-seed S`` draws another sample of OpenCV's robust estimators: the rows given to
``solvePnPRansac`` and ``findEssentialMat`` are shuffled by a generator seeded with ``S`` (their
answers mapped back), so a figure can be read as a distribution over RANSAC's draws rather than
the one draw a given OpenCV build makes (seed 1's ATE moved 0.045 → 0.22 → 0.16 % between
OpenCV 4.13, 4.14 and 5.x with nothing else changed). ``--draws N`` runs the default draw and
``--ransac-seed 0…N−2`` one after the other and ends with the median, mean and worst ATE over them.
Runs ``slamfeat vo`` with slamfeat-base (``--model`` overrides) and prints the report's accuracy line.
"""

import json
import sys
import tempfile
from functools import wraps
from pathlib import Path

import cv2
import numpy as np

import slamfeat.vo.frontend as frontend
import slamfeat.vo.tracking as tracking
from slamfeat.cli import main
from slamfeat.matching.matcher import Matcher, MatcherConfig

plain = tracking.match_keypoints
nn_matcher: list[Matcher] = []  # mutual NN for the features of the run's extractor


def with_nn(f0, f1, matcher):
    return plain(f0, f1, nn_matcher[0])


def union(f0, f1, matcher):
    a, b = plain(f0, f1, matcher), plain(f0, f1, nn_matcher[0])
    free = ~np.isin(b[:, 0], a[:, 0]) & ~np.isin(b[:, 1], a[:, 1])
    return np.concatenate([a, b[free]])


def agree(f0, f1, matcher):
    a = plain(f0, f1, matcher)
    if len(a) == 0:
        return a
    sim = f0.descriptors.float() @ f1.descriptors.float().T
    best1, best0 = sim.argmax(1).numpy(), sim.argmax(0).numpy()
    return a[(best1[a[:, 0]] == a[:, 1]) | (best0[a[:, 1]] == a[:, 0])]


VARIANTS = {  # variant: (matcher, function used to track, function used to map)
    "nn": ("nn", plain, plain), "lightglue": ("lightglue", plain, plain),
    "lightglue-track": ("lightglue", plain, with_nn), "lightglue-map": ("lightglue", with_nn, plain),
    "union": ("lightglue", union, union), "agree": ("lightglue", agree, agree),
}


OPENCV = cv2.solvePnPRansac, cv2.findEssentialMat
INIT = frontend.VisualOdometry.__init__


def shuffle_ransac(seed: int | None) -> None:
    """Make OpenCV's PnP and essential-matrix RANSAC see their rows in an order drawn from ``seed``
    (None: as given, OpenCV's own draw)."""
    pnp, essential = OPENCV
    if seed is None:
        cv2.solvePnPRansac, cv2.findEssentialMat = OPENCV
        return
    rng = np.random.default_rng(seed)

    @wraps(pnp)
    def shuffled_pnp(X, x, *args, **kwargs):
        order = rng.permutation(len(X))
        ok, rvec, tvec, inl = pnp(np.ascontiguousarray(X[order]), np.ascontiguousarray(x[order]), *args, **kwargs)
        if inl is not None:
            inl = order[inl.ravel()].reshape(-1, 1)
        return ok, rvec, tvec, inl

    @wraps(essential)
    def shuffled_essential(x0, x1, *args, **kwargs):
        order = rng.permutation(len(x0))
        E, mask = essential(np.ascontiguousarray(x0[order]), np.ascontiguousarray(x1[order]), *args, **kwargs)
        if mask is not None:
            back = np.empty_like(mask)
            back[order] = mask
            mask = back
        return E, mask

    cv2.solvePnPRansac, cv2.findEssentialMat = shuffled_pnp, shuffled_essential


def number(current, text: str):
    """``text`` as the type of the ``VOConfig`` field it replaces (a float where that is None)."""
    if isinstance(current, bool):
        return text.lower() in ("1", "true", "yes")
    return type(current)(text) if isinstance(current, (int, float)) else float(text)


def parse_options(args: list[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """``(slamfeat vo flags, this script's options, --set FIELD=VALUE settings)`` from the arguments after
    SOURCE VARIANT."""
    flags, settings = list(args), {}
    for name in ("--pnp-px", "--refine-px", "--keep", "--ransac-seed", "--draws"):
        if name in flags:
            at = flags.index(name)
            settings[name], flags = flags[at + 1], flags[:at] + flags[at + 2:]
    config = {}
    while "--set" in flags:  # --set FIELD=VALUE: any VOConfig number
        at = flags.index("--set")
        key, value = flags[at + 1].split("=")
        config[key], flags = value, flags[:at] + flags[at + 2:]
    return flags, settings, config


def pnp_options(settings: dict[str, str]) -> tuple[float | None, float | None]:
    """``(--pnp-px, --refine-px)`` of :func:`parse_options`'s settings as numbers (None where not given)."""
    return tuple(float(settings[name]) if name in settings else None for name in ("--pnp-px", "--refine-px"))


def run(source: str, variant: str, flags: list[str], pnp_px: float | None = None,
        refine_px: float | None = None, keep: str | None = None, settings: dict | None = None) -> dict:
    matcher, track, mapping = VARIANTS[variant]
    tracking.match_keypoints, frontend.match_keypoints = track, mapping
    init = INIT

    def init_with_nn(self, extractor, *args, **kwargs):
        init(self, extractor, *args, **kwargs)
        nn_matcher[:] = [Matcher(MatcherConfig(), extractor, "cpu")]
        if pnp_px is not None:
            self.cfg.pnp_reprojection_px = pnp_px
        if refine_px is not None:
            self.cfg.pnp_refine_px = refine_px
        for key, value in (settings or {}).items():
            setattr(self.cfg, key, number(getattr(self.cfg, key), value))

    frontend.VisualOdometry.__init__ = init_with_nn
    with tempfile.TemporaryDirectory() as tmp:
        tmp = keep or tmp  # --keep DIR: the run's outputs stay there
        report = Path(tmp) / "report.json"
        code = main(["vo", source, "--model", "slamfeat-base", "--matcher", matcher, "--no-video",
                     "--out", str(Path(tmp) / "vo"), "--json", str(report), *flags])
        if code:
            sys.exit(code)
        return json.loads(report.read_text())


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in VARIANTS:
        sys.exit(f"usage: {sys.argv[0]} SOURCE {{{'|'.join(VARIANTS)}}} [slamfeat vo flags]")
    flags, settings, config = parse_options(sys.argv[3:])
    pnp_px, refine_px = pnp_options(settings)
    draws = [None] + list(range(int(settings["--draws"]) - 1)) if "--draws" in settings else [
        int(settings["--ransac-seed"]) if "--ransac-seed" in settings else None]
    ates, rpes = [], []
    for seed in draws:
        shuffle_ransac(seed)
        keep = settings.get("--keep")
        if keep and len(draws) > 1:  # one folder a draw
            keep = str(Path(keep) / ("default" if seed is None else f"draw_{seed}"))
        r = run(sys.argv[1], sys.argv[2], flags, pnp_px, refine_px, keep, config)
        ates.append(100 * r["ate_rmse_rel"])
        rpes.append(r["rpe_trans"])
        label = [] if "--draws" not in settings else ["default draw"] if seed is None else [f"draw {seed}"]
        print(sys.argv[2], *sys.argv[3:], *label, *(f"{k}={r[k]:.4g}" for k in ("ate_rmse_rel", "rpe_trans", "rpe_rot_deg")),
              *(f"online_{k}={r['online'][k]:.4g}" for k in ("ate_rmse_rel", "rpe_trans") if "online" in r),
              f"lost={r['lost_frames']} keyframes={r['keyframes']} local_map={r.get('local_map_matches', 0)} last_frame={r.get('last_frame_frames', 0)} bridged={r.get('bridged_frames', 0)}/{r.get('bridged_reinitialisations', 0)} sim3_scale={r['sim3_scale']:.4f}",
              flush=True)
    if len(draws) > 1:
        print(f"{len(draws)} draws: ATE % median {np.median(ates):.3f} mean {np.mean(ates):.3f} worst {max(ates):.3f}, "
              f"RPE trans median {np.median(rpes):.4f} m")
