"""A gamma-alumina platelet with pores and Pt particles, as a 3D material volume.

Geometry (all lengths in nm, arrays in numpy ``(z, y, x)`` order, the electron beam along ``z`` at
0 degrees tilt, the tilt axis along ``y``, coordinates measured from the volume's centre):

* The support is a thin, roughly rhombic plate. In its own frame ``(u, v, w)`` (``w`` the plate
  normal, tilted from ``z`` by up to :attr:`SpecimenParameters.max_normal_tilt_deg`) the side
  facets are ``|u|/a + |v|/b = 1`` and the broad faces carry periodic ledges: the half-thickness
  drops by one ledge height at each of ``n`` evenly spaced rhombic "radii" ``|u|/a + |v|/b``, so
  the terraces follow the side facets.
* Pores are chains of elongated ellipsoids (2-6 nm wide, 1.5-3 times as long) whose long axes
  follow the two side-facet directions; they overlap into a network and stay at least
  ``pore_margin_nm`` inside the plate, so all of them are enclosed.
* Pt particles (spheres of 1-4 nm diameter) sit on the outer surface, centred 0.8 radii outside it,
  at sites drawn with a weight that grows with the local convexity, so mostly on facet edges, ledge
  edges and apexes. Particles keep two voxels apart, so each is one 26-connected component.
* Optionally a strand of the lacey carbon film (a wavy cylinder) runs behind the plate.
* Optionally (:attr:`SpecimenParameters.dim_masses`) dim amorphous masses (textured, irregular
  ellipsoids of carbon-like matter) lie beside the plate at its depth.
* A contamination coat of amorphous carbon-like matter (:attr:`SpecimenParameters.coat_thickness_nm`,
  ``(0, 0)`` for none) covers the outer surfaces of the support and the Pt, densest on the surface
  and thinning linearly to nothing at its thickness; the pores stay empty.

Materials: :data:`VACUUM`, :data:`ALUMINA`, :data:`PLATINUM`, :data:`CARBON`, :data:`AMORPHOUS`;
the segmentation labels (background/pores 0, alumina 1, Pt 2) count carbon, the amorphous
masses and the coat as background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage
from skimage.measure import marching_cubes, mesh_surface_area

from catseg3d.simulation.settings import SpecimenParameters

VACUUM, ALUMINA, PLATINUM, CARBON, AMORPHOUS = 0, 1, 2, 3, 4
PLATE_ATTEMPTS = 20
MATERIAL_NAMES = ("vacuum", "alumina", "platinum", "carbon", "amorphous")
BACKGROUND_MATERIALS = (VACUUM, CARBON, AMORPHOUS)  # what the labels call background


@dataclass
class Specimen:
    """A simulated specimen.

    Attributes:
        materials: uint8 ``(z, y, x)`` material codes (:data:`MATERIAL_NAMES`).
        spacing: voxel size in nm, ``(z, y, x)``.
        particles: one dict per Pt particle: ``centre_nm`` ``(z, y, x)`` from the volume's
            corner (voxel centre 0 at 0 nm), ``diameter_nm`` as designed, ``convexity`` of its site.
        geometry: the drawn plate parameters (nm, degrees).
        outer_surface_area_nm2: exact area of the plate's outer surface (pores filled, Pt
            ignored), from its geometry, not from the voxel labels.
        pore_surface_area_nm2: area of the pore walls, from marching cubes on the pores'
            continuous implicit function (not on the voxel labels).
        pore_mask: bool ``(z, y, x)``, voxels carved out of the plate as pores.
        density: float32 ``(z, y, x)`` density of each voxel relative to its material's (the
            grain texture of the alumina and the amorphous masses, times each mass's own
            density), or None for uniform materials.
    """

    materials: np.ndarray
    spacing: tuple[float, float, float]
    particles: list[dict]
    geometry: dict
    outer_surface_area_nm2: float
    pore_surface_area_nm2: float
    pore_mask: np.ndarray = field(repr=False)
    density: np.ndarray | None = field(default=None, repr=False)

    @property
    def labels(self) -> np.ndarray:
        """uint8 ``(z, y, x)`` segmentation labels: 0 background, pores, carbon and amorphous
        masses; 1 alumina; 2 Pt."""
        return np.where(np.isin(self.materials, BACKGROUND_MATERIALS), VACUUM, self.materials).astype(np.uint8)


def _frame(rng: np.random.Generator, max_tilt_deg: float) -> np.ndarray:
    """Rows ``e_u, e_v, e_w`` (unit vectors in ``(z, y, x)``) of the plate's frame."""
    phi = rng.uniform(0, np.pi)
    tilt = np.deg2rad(rng.uniform(0, max_tilt_deg))
    tilt_axis = rng.uniform(0, 2 * np.pi)
    e_w = np.array([np.cos(tilt), np.sin(tilt) * np.sin(tilt_axis), np.sin(tilt) * np.cos(tilt_axis)])
    reference = np.array([0.0, np.sin(phi), np.cos(phi)])  # in-plane direction before the tilt
    e_u = reference - e_w * (reference @ e_w)
    e_u /= np.linalg.norm(e_u)
    return np.stack([e_u, np.cross(e_w, e_u), e_w])


class _Plate:
    """The plate's implicit function: negative inside, roughly the distance to the surface (nm)."""

    def __init__(self, rng: np.random.Generator, extent_nm: np.ndarray, p: SpecimenParameters) -> None:
        in_plane = float(min(extent_nm[1], extent_nm[2]))
        self.frame = _frame(rng, p.max_normal_tilt_deg)
        self.a = rng.uniform(*p.plate_extent) * in_plane
        self.b = self.a * rng.uniform(*p.aspect)
        self.half = max(1.5, rng.uniform(*p.half_thickness) * float(min(extent_nm)))
        self.faces = []  # (start radius, ledge count, ledge height) of the top and bottom face
        for _ in range(2):
            count = int(rng.integers(p.ledges[0], p.ledges[1] + 1))
            self.faces.append((rng.uniform(0.3, 0.55), count, rng.uniform(*p.ledge_height) * self.half))
        self.edge_scale = self.a * self.b / np.hypot(self.a, self.b)  # rhombic radius -> nm

    def local(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` points (nm, ``(z, y, x)``) in the plate frame ``(u, v, w)``."""
        return points @ self.frame.T

    def half_thickness(self, radius: np.ndarray, face: int) -> np.ndarray:
        start, count, height = self.faces[face]
        steps = np.clip(np.floor((radius - start) / ((1 - start) / count)) + 1, 0, count)
        return self.half - height * steps

    def field(self, points: np.ndarray) -> np.ndarray:
        uvw = self.local(points)
        radius = np.abs(uvw[..., 0]) / self.a + np.abs(uvw[..., 1]) / self.b
        side = (radius - 1) * self.edge_scale
        top = uvw[..., 2] - self.half_thickness(radius, 0)
        bottom = -uvw[..., 2] - self.half_thickness(radius, 1)
        return np.maximum(side, np.maximum(top, bottom))

    def facet_directions(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors (``(z, y, x)``) along the two side-facet directions."""
        d1 = self.frame[0] * self.a + self.frame[1] * self.b
        d2 = self.frame[0] * self.a - self.frame[1] * self.b
        return d1 / np.linalg.norm(d1), d2 / np.linalg.norm(d2)

    def surface_area(self) -> float:
        """Exact area (nm^2) of the plate's surface: the two terraced faces project onto the
        rhombus (``2ab`` each), the ledge walls and the side facets are vertical bands along
        rhombi of perimeter ``4 r sqrt(a^2 + b^2)``."""
        perimeter = 4 * np.hypot(self.a, self.b)
        walls = sum(height * perimeter * (start + k * (1 - start) / count)
                    for start, count, height in self.faces for k in range(count))
        side = perimeter * sum(self.half - count * height for _, count, height in self.faces)
        return float(4 * self.a * self.b + walls + side)

    def describe(self) -> dict:
        return {"semi_diagonals_nm": [self.a, self.b], "half_thickness_nm": self.half,
                "normal_zyx": self.frame[2].tolist(),
                "ledges": [{"start_radius": s, "count": c, "height_nm": h} for s, c, h in self.faces]}


def _grid_points(shape: Sequence[int], spacing: Sequence[float], box: tuple[slice, ...] | None = None) -> np.ndarray:
    """``(..., 3)`` float32 voxel-centre coordinates (nm, from the volume centre) of ``box``."""
    box = box or tuple(slice(0, n) for n in shape)
    axes = [((np.arange(b.start, b.stop) - (n - 1) / 2) * s).astype(np.float32)
            for b, n, s in zip(box, shape, spacing)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def _box(centre_nm: np.ndarray, radius_nm: float, shape: Sequence[int], spacing: Sequence[float]) -> tuple[slice, ...]:
    """Voxel slices around a point given in centred nm coordinates."""
    index = centre_nm / np.asarray(spacing) + (np.asarray(shape) - 1) / 2
    reach = radius_nm / np.asarray(spacing) + 1
    return tuple(slice(max(0, int(np.floor(i - r))), min(n, int(np.ceil(i + r)) + 1))
                 for i, r, n in zip(index, reach, shape))


def _from_corner(centre_nm: np.ndarray, shape: Sequence[int], spacing: Sequence[float]) -> list[float]:
    """A centred position (nm) measured from voxel ``(0, 0, 0)``'s centre instead."""
    return (np.asarray(centre_nm) + (np.asarray(shape) - 1) / 2 * np.asarray(spacing)).tolist()


def _ellipsoid_field(points: np.ndarray, centre: np.ndarray, axes: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate signed distance (nm) to an ellipsoid with rows of ``axes`` and ``radii``."""
    local = (points - centre) @ axes.T
    return (np.sqrt(((local / radii) ** 2).sum(-1)) - 1) * radii.min()


def _pores(rng: np.random.Generator, plate: _Plate, shape, spacing, p: SpecimenParameters) -> tuple[np.ndarray, list]:
    """The pores' implicit function (min over ellipsoids, +inf far away) and their parameters."""
    pore_field = np.full(shape, np.inf, dtype=np.float32)
    area = 2 * plate.a * plate.b
    directions = plate.facet_directions()
    pores = []
    sphere = rng.normal(size=(256, 3))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    for _ in range(rng.poisson(p.pore_chains_per_100nm2 * area / 100)):
        uv = rng.uniform(-1, 1, size=2)
        uv *= 0.6 / max(1.0, np.abs(uv).sum()) * np.array([plate.a, plate.b])  # inside the rhombus
        joint = plate.frame[0] * uv[0] + plate.frame[1] * uv[1]  # where the next pore starts
        turn = int(rng.integers(2))
        for _ in range(int(rng.integers(p.pores_per_chain[0], p.pores_per_chain[1] + 1))):
            turn = 1 - turn
            for _attempt in range(10):  # a pore that would break the margin is drawn again
                direction = directions[turn] * rng.choice([-1.0, 1.0])
                width = rng.uniform(*p.pore_diameter_nm)
                length = width * rng.uniform(*p.pore_elongation)
                second = np.cross(plate.frame[2], direction)
                axes = np.stack([direction, second / np.linalg.norm(second), plate.frame[2]])
                radii = np.array([length, width, width]) / 2
                candidate = joint + direction * 0.8 * radii[0]
                depth = rng.uniform(-0.5, 0.5) * max(0.0, plate.half - p.pore_margin_nm - radii[2])
                candidate = candidate + plate.frame[2] * (depth - candidate @ plate.frame[2])
                if np.all(plate.field(candidate + (sphere * radii) @ axes) < -p.pore_margin_nm):
                    break
            else:
                continue
            box = _box(candidate, radii.max(), shape, spacing)
            local = _ellipsoid_field(_grid_points(shape, spacing, box), candidate, axes, radii)
            pore_field[box] = np.minimum(pore_field[box], local)
            pores.append({"centre_nm": _from_corner(candidate, shape, spacing), "length_nm": length, "width_nm": width})
            joint = candidate + direction * 0.9 * radii[0]
    return pore_field, pores


def _carbon(rng: np.random.Generator, plate: _Plate, points: np.ndarray, p: SpecimenParameters) -> tuple[np.ndarray, dict]:
    """A wavy carbon cylinder behind the plate (bool mask) and its parameters."""
    radius = rng.uniform(*p.carbon_radius_nm)
    angle = rng.uniform(0, np.pi)
    along = np.array([0.0, np.sin(angle), np.cos(angle)])
    depth = plate.half + radius + rng.uniform(0.5, 2.0)
    origin = -plate.frame[2] * depth + np.cross(plate.frame[2], along) * rng.uniform(-0.3, 0.3) * plate.a
    amplitude, wavelength = rng.uniform(0.5, 2.0) * radius, rng.uniform(4, 8) * radius
    relative = points - origin
    s = relative @ along
    wave = amplitude * np.sin(2 * np.pi * s / wavelength)
    residual = relative - s[..., None] * along - wave[..., None] * (-plate.frame[2])
    mask = (residual ** 2).sum(-1) <= radius ** 2
    return mask, {"radius_nm": radius, "direction_zyx": along.tolist(), "depth_nm": depth}


def _dim_masses(rng: np.random.Generator, plate: _Plate, points: np.ndarray, spacing: Sequence[float],
                p: SpecimenParameters) -> tuple[list[np.ndarray], list[dict]]:
    """``count`` irregular ellipsoids (bool masks) centred beside the plate, within its depth, and
    their parameters. The outline is an ellipsoid's signed distance plus smooth noise (SD 0.3 of
    the smallest semi-axis, correlation 0.6 nm), so the masses are lumpy rather than smooth."""
    count = int(rng.integers(p.dim_masses[0], p.dim_masses[1] + 1))
    half_extent = np.abs(points[-1, -1, -1])  # (z, y, x) nm from the centre to the last voxel centre
    masks, drawn = [], []
    for _ in range(count):
        radius = rng.uniform(*p.dim_mass_radius_nm)
        radii = radius * np.array([1.0, *rng.uniform(0.5, 1.0, size=2)])
        axes = np.linalg.qr(rng.standard_normal((3, 3)))[0]
        angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0)
        centre = np.array([rng.uniform(-1, 1) * min(plate.half, half_extent[0]),
                           reach * half_extent[1] * np.sin(angle), reach * half_extent[2] * np.cos(angle)])
        noise = ndimage.gaussian_filter(rng.standard_normal(points.shape[:3], dtype=np.float32),
                                        [0.6 / s for s in spacing], truncate=3.0)
        noise *= 0.3 * radii.min() / max(float(noise.std()), 1e-12)
        masks.append(_ellipsoid_field(points, centre, axes, radii) + noise <= 0)
        drawn.append({"centre_nm": centre.tolist(), "semi_axes_nm": radii.tolist(),
                      "relative_density": float(rng.uniform(*p.dim_mass_density))})
    return masks, drawn


def _coat(rng: np.random.Generator, materials: np.ndarray, pore_mask: np.ndarray, spacing: Sequence[float],
          p: SpecimenParameters) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
    """A contamination coat on the outer surfaces of the alumina and Pt: the empty voxels (vacuum, not
    pores) whose centres lie within the drawn thickness ``t`` (nm) of a solid voxel's centre, and their
    density relative to amorphous carbon, ``surface_density * (1 - d / t)`` at distance ``d``.

    Returns:
        ``((mask, relative_density), description)``: boolean ``(z, y, x)``, float32 ``(n,)`` for the
        mask's voxels in C order, and the drawn ``thickness_nm`` and ``surface_density``.
    """
    thickness = float(rng.uniform(*p.coat_thickness_nm))
    surface_density = float(rng.uniform(*p.coat_density))
    solid = (materials == ALUMINA) | (materials == PLATINUM)
    distance = ndimage.distance_transform_edt(~solid, sampling=spacing)
    mask = (materials == VACUUM) & ~pore_mask & (distance <= thickness)
    relative_density = (surface_density * (1.0 - distance[mask] / thickness)).astype(np.float32)
    return (mask, relative_density), {"thickness_nm": thickness, "surface_density": surface_density}


def _convexity(plate_mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Fraction of vacuum in a ~1.5 nm box around each voxel (float32 ``(z, y, x)``)."""
    size = [max(3, int(round(1.5 / s)) | 1) for s in spacing]
    return 1 - ndimage.uniform_filter(plate_mask.astype(np.float32), size=size, mode="nearest")


def _place_particles(rng: np.random.Generator, plate_mask: np.ndarray, shape, spacing,
                     p: SpecimenParameters, outer_area: float) -> list[dict]:
    """Pt particle centres and diameters on the plate's outer surface."""
    spacing_arr = np.asarray(spacing)
    outside = np.asarray(shape) * spacing_arr / 2
    surface = plate_mask & ~ndimage.binary_erosion(plate_mask, border_value=1)
    sites = np.argwhere(surface)
    if len(sites) == 0:
        return []
    vacuum = _convexity(plate_mask, spacing)
    convexity = vacuum[tuple(sites.T)]
    weights = np.exp(p.pt_convexity_weight * (convexity - 0.5))
    weights /= weights.sum()
    gap = 2 * spacing_arr.max()
    particles: list[dict] = []
    wanted = rng.poisson(p.pt_per_100nm2 * outer_area / 100)
    for _ in range(50 * wanted):
        if len(particles) == wanted:
            break
        pick = rng.choice(len(sites), p=weights)
        site = sites[pick]
        gradient = np.array([
            (vacuum[tuple(np.minimum(site + e, np.asarray(shape) - 1))] -
             vacuum[tuple(np.maximum(site - e, 0))]) / spacing_arr[k]
            for k, e in enumerate(np.eye(3, dtype=int))])
        if not np.linalg.norm(gradient) > 0:
            continue
        normal = gradient / np.linalg.norm(gradient)
        diameter = float(np.exp(rng.uniform(*np.log(p.pt_diameter_nm))))
        radius = diameter / 2
        centre = (site - (np.asarray(shape) - 1) / 2) * spacing_arr + normal * 0.8 * radius
        if np.any(np.abs(centre) + radius + spacing_arr > outside):
            continue
        if any(np.linalg.norm(centre - np.asarray(q["centre"])) < radius + q["diameter_nm"] / 2 + gap
               for q in particles):
            continue
        particles.append({"centre": centre.tolist(), "diameter_nm": diameter,
                          "convexity": float(convexity[pick])})
    return particles


def _touches_edge(mask: np.ndarray) -> bool:
    """Whether a 3D mask holds a voxel on any face of its box."""
    return any(mask.take(index, axis=axis).any() for axis in range(3) for index in (0, -1))


def _grain_texture(rng: np.random.Generator, shape, spacing, p: SpecimenParameters) -> np.ndarray:
    """float32 ``(z, y, x)`` relative density ``1 + grain_contrast * g``, ``g`` Gaussian-smoothed
    white noise (sigma ``grain_size_nm``) scaled to unit SD, clipped at 0."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    smooth = ndimage.gaussian_filter(noise, [p.grain_size_nm / s for s in spacing], truncate=3.0)
    smooth /= max(float(smooth.std()), 1e-12)
    return np.maximum(1.0 + p.grain_contrast * smooth, 0.0).astype(np.float32)


def _surface_area(field_values: np.ndarray, spacing: Sequence[float]) -> float:
    """Area (nm^2) of the zero level set of a sampled implicit function (negative inside)."""
    values = np.pad(np.nan_to_num(field_values, posinf=1e3), 1, constant_values=1e3)
    if values.min() >= 0:
        return 0.0
    vertices, faces, _, _ = marching_cubes(values, level=0.0, spacing=tuple(spacing))
    return float(mesh_surface_area(vertices, faces))


def simulate_specimen(shape: Sequence[int], spacing: float | Sequence[float], rng: np.random.Generator,
                      parameters: SpecimenParameters = SpecimenParameters()) -> Specimen:
    """Draw one specimen.

    Args:
        shape: ``(z, y, x)`` voxels.
        spacing: voxel size in nm, one value or ``(z, y, x)``.
        rng: the random generator (all randomness comes from it).
        parameters: the distributions to draw from.

    Returns:
        The :class:`Specimen`.

    Raises:
        ValueError: a shape that is not three positive sizes, or a non-positive spacing.
    """
    shape = tuple(int(n) for n in shape)
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, dtype=float), (3,)))
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape must be three sizes of at least 8 voxels, got {shape}")
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing must be positive, got {spacing}")
    extent = np.asarray(shape) * np.asarray(spacing)
    points = _grid_points(shape, spacing)
    for _attempt in range(PLATE_ATTEMPTS):  # a plate that reaches the volume's edge is drawn again
        plate = _Plate(rng, extent, parameters)
        plate_mask = plate.field(points) <= 0
        if not _touches_edge(plate_mask):
            break
    else:
        raise ValueError(f"the plate reaches the edge of the {shape} volume; use a less flat shape")
    pore_field, pores = _pores(rng, plate, shape, spacing, parameters)
    pore_mask = (pore_field <= 0) & plate_mask
    materials = np.where(plate_mask & ~pore_mask, ALUMINA, VACUUM).astype(np.uint8)
    geometry = plate.describe()
    geometry["pores"] = pores
    if rng.uniform() < parameters.carbon_probability:
        carbon, geometry["carbon"] = _carbon(rng, plate, points, parameters)
        materials[carbon & (materials == VACUUM) & ~plate_mask] = CARBON
    masses = []
    if parameters.dim_masses[1] > 0:
        masses, geometry["dim_masses"] = _dim_masses(rng, plate, points, spacing, parameters)
        for mask in masses:
            materials[mask & (materials == VACUUM) & ~plate_mask] = AMORPHOUS
    del points
    outer_area = plate.surface_area()
    pore_area = _surface_area(pore_field, spacing)
    particles = _place_particles(rng, plate_mask, shape, spacing, parameters, outer_area)
    for particle in particles:
        centre = np.asarray(particle.pop("centre"))
        radius = particle["diameter_nm"] / 2
        box = _box(centre, radius, shape, spacing)
        inside = np.linalg.norm(_grid_points(shape, spacing, box) - centre, axis=-1) <= radius
        nearest = tuple(int(np.clip(round(c / s + (n - 1) / 2), 0, n - 1)) for c, s, n in zip(centre, spacing, shape))
        materials[box][inside] = PLATINUM
        materials[nearest] = PLATINUM  # at least one voxel, however coarse the grid
        particle["centre_nm"] = _from_corner(centre, shape, spacing)
    coat = None
    if parameters.coat_thickness_nm[1] > 0:
        coat, geometry["coat"] = _coat(rng, materials, pore_mask, spacing, parameters)
    density = _grain_texture(rng, shape, spacing, parameters) if parameters.grain_contrast > 0 else None
    if masses:
        density = np.ones(shape, dtype=np.float32) if density is None else density
        for mask, drawn in zip(masses, geometry["dim_masses"]):
            density[mask & (materials == AMORPHOUS)] *= np.float32(drawn["relative_density"])
    if coat is not None:
        mask, relative_density = coat
        materials[mask] = AMORPHOUS
        density = np.ones(shape, dtype=np.float32) if density is None else density
        density[mask] *= relative_density
    return Specimen(materials, spacing, particles, geometry, outer_area, pore_area,
                    pore_mask & (materials == VACUUM), density)
