"""A textured 3-D town rendered by ray casting (open3d), with Lambert shading and sun shadows.

World frame: NED, as in AirSim: x north, y east, z down, the ground at ``z = 0`` (heights are
negative z). The scene is a grid of ground cells, buildings (boxes), small objects and a ring of
tall walls around the town so that a camera inside never sees an empty horizon.

Each triangle carries a planar texture mapping: a texel position ``(u, v) = ((p - o)·a_u,
(p - o)·a_v)`` of its hit point ``p``, with ``a_u, a_v`` in texels per metre. Shading is Lambertian
and view-independent, so a surface point has the same colour in every frame (under constant light).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import open3d as o3d

from .textures import low_texture, texture_set

PAD = 2  # wrap padding around each texture tile of the atlas, for bilinear sampling at tile edges
MIP_LEVELS = 5


@dataclass
class Lighting:
    """Sun and sky. ``sun`` points from the scene towards the sun (world NED, unit)."""

    sun: np.ndarray = field(default_factory=lambda: _unit([0.4, 0.3, -1.0]))
    ambient: float = 0.45
    diffuse: float = 0.75
    exposure: float = 1.0


@dataclass
class Scene:
    """Geometry for ray casting plus, per triangle, its texture and texture mapping."""

    raycaster: o3d.t.geometry.RaycastingScene
    origin: np.ndarray  # T×3 texture origin per triangle (metres)
    axis_u: np.ndarray  # T×3 texels per metre along the texture's u
    axis_v: np.ndarray  # T×3
    texture_id: np.ndarray  # T int
    texels_per_m: np.ndarray  # T, the length of axis_u
    atlas: np.ndarray  # all textures at all mip levels, see :func:`_atlas`
    level_x: np.ndarray  # MIP_LEVELS, column where each level's tiles start in the atlas
    tile: int  # S, texture side in texels at level 0


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


class _Builder:
    """Collects boxes and quads with their texture mappings."""

    def __init__(self, tile: int):
        self.tile = tile
        self.vertices: list[np.ndarray] = []
        self.triangles: list[np.ndarray] = []
        self.maps: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
        self.n = 0

    def quad(self, corner, edge_u, edge_v, texture: int, metres_per_tile: float, rng=None) -> None:
        """A rectangle ``corner + a·edge_u + b·edge_v`` (a, b in [0, 1]), texture repeating every
        ``metres_per_tile`` along both edges, with a random offset when ``rng`` is given."""
        corner, eu, ev = (np.asarray(x, dtype=np.float64) for x in (corner, edge_u, edge_v))
        self.vertices.append(np.stack([corner, corner + eu, corner + eu + ev, corner + ev]))
        self.triangles.append(np.array([[0, 1, 2], [0, 2, 3]]) + self.n)
        self.n += 4
        k = self.tile / metres_per_tile
        au, av = _unit(eu) * k, _unit(ev) * k
        origin = corner.copy()
        if rng is not None:
            origin = origin - rng.uniform(0, metres_per_tile, 1)[0] * _unit(eu) - rng.uniform(0, metres_per_tile, 1)[0] * _unit(ev)
        for _ in range(2):
            self.maps.append((origin, au, av, texture))

    def box(self, x0, y0, x1, y1, height, side_texture: int, top_texture: int, side_tile: float,
            top_tile: float, rng) -> None:
        """An axis-aligned box on the ground (z from 0 up to ``-height``); textures' v points down."""
        up = np.array([0.0, 0.0, height])
        top = -height
        # four walls, u along the wall, v downwards from the roof edge
        for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
            self.quad([a[0], a[1], top], [b[0] - a[0], b[1] - a[1], 0.0], up, side_texture, side_tile, rng)
        self.quad([x0, y0, top], [x1 - x0, 0, 0], [0, y1 - y0, 0], top_texture, top_tile, rng)

    def build(self) -> tuple[o3d.t.geometry.RaycastingScene, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        mesh = o3d.t.geometry.TriangleMesh()
        mesh.vertex.positions = o3d.core.Tensor(np.concatenate(self.vertices).astype(np.float32))
        mesh.triangle.indices = o3d.core.Tensor(np.concatenate(self.triangles).astype(np.int32))
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(mesh)
        o, u, v, t = zip(*self.maps)
        return rc, np.array(o), np.array(u), np.array(v), np.array(t, dtype=np.int64)


def _atlas(textures: list[np.ndarray], tile: int) -> tuple[np.ndarray, np.ndarray]:
    """One image holding every texture at every mip level, and the column of each level.

    Level ``l`` of texture ``t`` is an ``s×s`` tile (``s = tile / 2^l``) with ``PAD`` texels of
    wrap-around padding, at column ``level_x[l]`` and row ``t·(s + 2 PAD)``; so one remap samples
    any level of any texture.
    """
    sides = [tile >> lvl for lvl in range(MIP_LEVELS)]
    level_x = np.concatenate([[0], np.cumsum([sd + 2 * PAD for sd in sides])[:-1]]).astype(np.float32)
    atlas = np.zeros((len(textures) * (tile + 2 * PAD), int(level_x[-1]) + sides[-1] + 2 * PAD, 3), np.uint8)
    for t, texture in enumerate(textures):
        current = texture
        for lvl, side in enumerate(sides):
            y, x = t * (side + 2 * PAD), int(level_x[lvl])
            atlas[y:y + side + 2 * PAD, x:x + side + 2 * PAD] = np.pad(current, ((PAD, PAD), (PAD, PAD), (0, 0)), mode="wrap")
            current = cv2.resize(current, (side // 2, side // 2), interpolation=cv2.INTER_AREA)
    return atlas, level_x


def build_town(rng: np.random.Generator, half_size: float = 140.0, tile: int = 512,
               low_texture_fraction: float = 0.0, max_building_height: float = 9.0) -> Scene:
    """A town of ``2·half_size`` metres a side: ground cells, buildings, objects and a ring of walls.

    ``low_texture_fraction`` of the textures are blurred and flattened (hard sequences).
    """
    textures, kinds = texture_set(rng, tile)
    for i in range(len(textures)):
        if rng.random() < low_texture_fraction:
            textures[i] = low_texture(textures[i])
    b = _Builder(tile)
    cell = 10.0
    edges = np.arange(-half_size, half_size, cell)
    for x in edges:
        for y in edges:
            t = int(rng.choice(kinds["ground"]))
            # random quarter turn of the texture so that neighbouring cells never line up
            eu, ev = [[cell, 0, 0], [0, cell, 0]] if rng.random() < 0.5 else [[0, cell, 0], [cell, 0, 0]]
            b.quad([x, y, 0.0], eu, ev, t, cell * rng.uniform(0.8, 1.5), rng)
    # buildings on a jittered grid; the centre street cross left open
    spacing = 22.0
    for gx in np.arange(-half_size + spacing, half_size - spacing, spacing):
        for gy in np.arange(-half_size + spacing, half_size - spacing, spacing):
            if rng.random() < 0.2:
                continue
            w, d = rng.uniform(7, 15, 2)
            cx, cy = gx + rng.uniform(-3, 3), gy + rng.uniform(-3, 3)
            h = rng.uniform(3.0, max_building_height)
            b.box(cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2, h, int(rng.choice(kinds["facade"])),
                  int(rng.choice(kinds["roof"])), rng.uniform(5, 9), rng.uniform(6, 10), rng)
    for _ in range(int((half_size / 10) ** 2)):  # cars, crates, kiosks
        cx, cy = rng.uniform(-half_size, half_size, 2)
        w, d = rng.uniform(1.2, 4.5, 2)
        b.box(cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2, rng.uniform(0.8, 2.5), int(rng.choice(kinds["object"])),
              int(rng.choice(kinds["object"])), rng.uniform(2, 4), rng.uniform(2, 4), rng)
    # ring of tall walls hiding the horizon
    r, hgt = half_size, 70.0
    for a, c in (((-r, -r), (r, -r)), ((r, -r), (r, r)), ((r, r), (-r, r)), ((-r, r), (-r, -r))):
        n = 8
        for k in range(n):
            p0 = np.array(a) + (np.array(c) - np.array(a)) * k / n
            p1 = np.array(a) + (np.array(c) - np.array(a)) * (k + 1) / n
            b.quad([p0[0], p0[1], -hgt], [*(p1 - p0), 0.0], [0, 0, hgt], int(rng.choice(kinds["facade"])), 25.0, rng)
    rc, origin, au, av, tid = b.build()
    return Scene(rc, origin.astype(np.float32), au.astype(np.float32), av.astype(np.float32), tid,
                 np.linalg.norm(au, axis=1).astype(np.float32), *_atlas(textures, tile), tile)


def camera_rays(K: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``H·W×3`` ray directions in the camera frame (OpenCV axes), z = 1 so that the ray parameter
    of a hit is its planar depth. Row-major over pixels ``(x, y)`` at pixel centres."""
    w, h = size
    x, y = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    d = np.stack([(x - K[0, 2]) / K[0, 0], (y - K[1, 2]) / K[1, 1], np.ones_like(x)], -1)
    return d.reshape(-1, 3).astype(np.float32)


def cast(scene: Scene, origins: np.ndarray, directions: np.ndarray) -> dict[str, np.ndarray]:
    """Ray casting of ``N`` rays: ``t_hit`` (inf on a miss), ``primitive_ids``, ``primitive_normals``."""
    rays = np.empty((len(directions), 6), np.float32)
    rays[:, :3], rays[:, 3:] = origins, directions
    ans = scene.raycaster.cast_rays(o3d.core.Tensor(rays))
    return {k: ans[k].numpy() for k in ("t_hit", "primitive_ids", "primitive_normals")}


def sample_texture(scene: Scene, points: np.ndarray, tri: np.ndarray, footprint_m: np.ndarray) -> np.ndarray:
    """RGB float32 ``N×3`` (0–255) of surface points ``N×3`` on triangles ``N``, mip-mapped for a
    pixel footprint of ``footprint_m`` metres on the surface (trilinear filtering)."""
    rel = points - scene.origin[tri]
    u = np.einsum("ij,ij->i", rel, scene.axis_u[tri])
    v = np.einsum("ij,ij->i", rel, scene.axis_v[tri])
    level = np.clip(np.log2(np.maximum(footprint_m * scene.texels_per_m[tri], 1e-6)), 0, MIP_LEVELS - 1)
    lo = np.minimum(np.floor(level).astype(np.int64), MIP_LEVELS - 2)
    frac = (level - lo).astype(np.float32)[:, None]
    tid = scene.texture_id[tri]
    colour = np.zeros((len(points), 3), np.float32)
    for lvl, weight in ((lo, 1 - frac), (lo + 1, frac)):
        side = (scene.tile >> lvl).astype(np.float32)
        scale = np.float32(0.5) ** lvl.astype(np.float32)
        # (0, 0) of remap is the centre of the top-left texel: texel centres sit at integer u, v
        x = np.mod(u * scale, side) + PAD + scene.level_x[lvl]
        y = np.mod(v * scale, side) + PAD + tid * (side + 2 * PAD)
        colour += _remap_points(scene.atlas, x, y) * weight
    return colour


def _remap_points(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples ``N×C`` of ``image`` at ``N`` points (OpenCV's remap caps map sides at 32767)."""
    n, width = len(x), 4096
    rows = -(-n // width)
    mx = np.zeros(rows * width, np.float32)
    my = np.zeros(rows * width, np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, width), my.reshape(rows, width), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT)
    return out.reshape(rows * width, -1)[:n]


def render(scene: Scene, T_world_cam: np.ndarray, K: np.ndarray, size: tuple[int, int],
           lighting: Lighting, rays_cam: np.ndarray | None = None, shadows: bool = True
           ) -> tuple[np.ndarray, np.ndarray]:
    """Render one view.

    Args:
        T_world_cam: ``4×4`` camera-to-world pose, OpenCV camera axes, world NED.
        K: ``3×3`` intrinsics; size: ``(W, H)``.
        rays_cam: the output of :func:`camera_rays` for ``K`` and ``size`` (computed when None).

    Returns:
        ``H×W×3`` uint8 RGB image and ``H×W`` float32 planar depth in metres (0 where no surface).
    """
    w, h = size
    d_cam = camera_rays(K, size) if rays_cam is None else rays_cam
    # float32 throughout: a float64 (N×3)·(3×3) product is ten times slower here
    R, c = T_world_cam[:3, :3].astype(np.float32), T_world_cam[:3, 3].astype(np.float32)
    sun = np.asarray(lighting.sun, np.float32)
    dirs = _rotate(d_cam, R)
    hit = cast(scene, np.broadcast_to(c, dirs.shape), dirs)
    t = hit["t_hit"]
    ok = np.isfinite(t)
    everywhere = bool(ok.all())  # the usual case: skip the masking
    image = np.empty((len(t), 3), np.float32)
    if not everywhere:
        image[~ok] = _sky(dirs[~ok])
    if ok.any():
        sel = slice(None) if everywhere else ok
        tri = hit["primitive_ids"][sel].astype(np.int64)
        normal = hit["primitive_normals"][sel]
        d, t_ok = dirs[sel], t[sel]
        p = c + d * t_ok[:, None]
        d_len = np.sqrt(np.einsum("ij,ij->i", d, d))
        n_dot_d = np.einsum("ij,ij->i", normal, d)
        # a pixel's footprint: range over focal length, stretched by the slant (biased towards sharp)
        footprint = t_ok * d_len / np.float32(K[0, 0]) / np.sqrt(np.maximum(np.abs(n_dot_d) / d_len, 0.05))
        albedo = sample_texture(scene, p, tri, footprint)
        normal = np.where((n_dot_d > 0)[:, None], -normal, normal)  # face the camera
        lambert = np.maximum(normal[:, 0] * sun[0] + normal[:, 1] * sun[1] + normal[:, 2] * sun[2], 0)
        if shadows:
            lit = np.flatnonzero(lambert > 0)
            if len(lit):
                rays = np.empty((len(lit), 6), np.float32)
                rays[:, :3] = p[lit] + normal[lit] * np.float32(1e-3)
                rays[:, 3:] = sun
                lambert[lit[scene.raycaster.test_occlusions(o3d.core.Tensor(rays)).numpy()]] = 0.0
        image[sel] = albedo * (lighting.ambient + lighting.diffuse * lambert)[:, None]
    image = np.clip(image * lighting.exposure, 0, 255).astype(np.uint8).reshape(h, w, 3)
    depth = np.where(ok, t, 0.0).astype(np.float32).reshape(h, w)
    return image, depth


def _rotate(vectors: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``R @ v`` for ``N×3`` float32 vectors, column by column (faster than a BLAS call for 3×3)."""
    return vectors[:, 0:1] * R[:, 0] + vectors[:, 1:2] * R[:, 1] + vectors[:, 2:3] * R[:, 2]


def _sky(dirs: np.ndarray) -> np.ndarray:
    elev = -dirs[:, 2] / np.linalg.norm(dirs, axis=1)  # up is -z in NED
    a = np.clip(elev, 0, 1)[:, None]
    return ((1 - a) * np.array([200, 215, 235]) + a * np.array([90, 140, 220])).astype(np.float32)
