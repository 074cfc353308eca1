"""dSprites-style shapes with known generative factors, rendered in the module (no download).

A re-implementation of the *factor grid* of dSprites (Matthey et al. 2017), not of its pixels (the
original rendering code is not public): one white shape on a black square frame, with five independent
factors

    shape        3 values   square, ellipse, heart
    scale        6 values   evenly spaced in [0.5, 1]
    orientation 40 values   evenly spaced in [0, 2 pi] (both ends included, as in dSprites)
    pos_x       32 values   evenly spaced in [0, 1]
    pos_y       32 values   evenly spaced in [0, 1]

737,280 combinations at 64 x 64 pixels by default (:data:`DSPRITES`); :class:`ShapesGrid` takes a smaller
resolution or coarser factor grids by argument. Rendering is deterministic and vectorised: each pixel
centre is mapped into the shape's own frame (translate, rotate, scale) and tested against the shape's
implicit inside-function, so an image is exactly binary.

Geometry, in frame units (the frame is [0, 1]^2, rows are y from the top): at scale 1 every shape fits a
circle of radius ``size`` (0.2) around its rotation centre, so a position in [0, 1] is mapped to a centre in
[size, 1 - size] and the shape stays inside the frame at every scale and orientation.

Symmetries that make different factor values give the same image (as in dSprites): orientations 0 and
2 pi are the same angle; a square is unchanged by a 90-degree turn and an ellipse by a 180-degree turn, so
for them orientation is identifiable only modulo 90 and 180 degrees (the 40-value grid does not land
exactly on those angles, so such images are near-identical rather than equal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import checks

__all__ = ["SHAPES", "FACTOR_NAMES", "ShapesGrid", "DSPRITES", "render_values"]

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")

# The heart: a square of unit side turned 45 degrees (|x| + |y| <= 1/sqrt 2) with a disk of diameter 1 on
# each of its two upper edges. Its area is 1 + pi/4; the half-disks outside the square put the centroid at
# _HEART_CY; the farthest point from the centroid is the bottom tip, 1/sqrt 2 + _HEART_CY away.
_HEART_C = 0.5 / math.sqrt(2.0)  # lobe centres (+-c, c)
_HEART_CY = (math.pi / 4) * (_HEART_C + 2 / (3 * math.pi * math.sqrt(2.0))) / (1 + math.pi / 4)
_HEART_R = 1 / math.sqrt(2.0) + _HEART_CY
_ELLIPSE_ASPECT = 0.5  # minor / major semi-axis


def _inside(shape: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Inside-test in the unit frame of each shape, where the shape fits the unit circle around its
    rotation centre (the centroid for the heart).

    shape (N, 1) long; x, y (N, P) coordinates with y pointing up. Returns (N, P) bool.
    """
    half = 1.0 / math.sqrt(2.0)  # square: half-diagonal 1
    square = torch.maximum(x.abs(), y.abs()) <= half
    ellipse = x**2 + (y / _ELLIPSE_ASPECT) ** 2 <= 1.0  # semi-axes 1 and 0.5
    hx, hy = x * _HEART_R, y * _HEART_R + _HEART_CY  # back to the heart's own coordinates
    heart = ((hx.abs() + hy.abs() <= half)
             | ((hx - _HEART_C) ** 2 + (hy - _HEART_C) ** 2 <= 0.25)
             | ((hx + _HEART_C) ** 2 + (hy - _HEART_C) ** 2 <= 0.25))
    return torch.where(shape == 0, square, torch.where(shape == 1, ellipse, heart))


def render_values(
    shape: torch.Tensor,
    scale: torch.Tensor,
    orientation: torch.Tensor,
    pos_x: torch.Tensor,
    pos_y: torch.Tensor,
    resolution: int = 64,
    size: float = 0.2,
    extent: tuple[float, float] = (0.0, 1.0),
    chunk: int = 2048,
) -> torch.Tensor:
    """Render shapes from factor *values*: shape index (N,) long, scale (N,), orientation (N,) radians,
    pos_x, pos_y (N,) in [0, 1]. Returns (N, P) float32 images in {0, 1}, flattened row-major, where P is
    the number of pixel centres.

    The frame [0, 1]^2 is sampled at ``resolution`` pixels per unit; ``extent`` widens the canvas beyond
    it at the same pixel pitch (the unit tests use it to check that no shape is cut by the frame).
    """
    where = "render_values"
    checks.tensor(shape, "shape", where, kind="int", ndim=1, dims="(N,)")
    if shape.numel() and (shape.min() < 0 or shape.max() >= len(SHAPES)):
        checks.fail(where, "shape", f"shape indices in [0, {len(SHAPES)})", f"values from {int(shape.min())} to "
                    f"{int(shape.max())}", f"0, 1, 2 are {', '.join(SHAPES)}")
    n = shape.shape[0]
    for name, t in (("scale", scale), ("orientation", orientation), ("pos_x", pos_x), ("pos_y", pos_y)):
        checks.tensor(t, name, where, kind="any", dims=f"({n},)", check_finite=False)
        if t.shape != (n,):
            checks.fail(where, name, f"of shape ({n},) like shape", checks.describe(t))
        if t.is_floating_point():
            checks.finite(t, name, where)
    if n and not bool((scale > 0).all()):
        checks.fail(where, "scale", "positive", f"a minimum of {float(scale.min()):.4g}",
                    "scales are positive (dSprites': 0.5 to 1)")
    checks.integer(resolution, "resolution", where)
    checks.integer(chunk, "chunk", where)
    checks.number(size, "size", where, minimum=0, strict=True, maximum=0.5)
    if not (isinstance(extent, (tuple, list)) and len(extent) == 2):
        checks.fail(where, "extent", "a pair (lo, hi)", checks.describe(extent), kind=TypeError)
    lo_e = checks.number(extent[0], "extent[0]", where)
    checks.number(extent[1], "extent[1]", where, minimum=lo_e, strict=True)
    if (extent[1] - extent[0]) * resolution > 4096:
        checks.fail(where, "extent and resolution", "at most 4096 pixels across",
                    f"{(extent[1] - extent[0]) * resolution:g}")
    lo, hi = extent
    pixels = round((hi - lo) * resolution)
    centres = lo + (torch.arange(pixels, dtype=torch.float32) + 0.5) / resolution  # (W,)
    v, u = torch.meshgrid(centres, centres, indexing="ij")  # (H, W): v = row (down), u = column
    u, v = u.reshape(1, -1), v.reshape(1, -1)  # (1, P)
    out = torch.empty(n, pixels * pixels, dtype=torch.float32)
    for i in range(0, n, chunk):
        s = slice(i, i + chunk)
        cx = (size + (1 - 2 * size) * pos_x[s].float()).unsqueeze(1)  # (B, 1) centre in the frame
        cy = (size + (1 - 2 * size) * pos_y[s].float()).unsqueeze(1)
        r = (size * scale[s].float()).unsqueeze(1)  # (B, 1) radius of the enclosing circle
        cos, sin = orientation[s].double().cos().float().unsqueeze(1), orientation[s].double().sin().float().unsqueeze(1)
        dx, dy = u - cx, cy - v  # (B, P), y up
        x = (cos * dx + sin * dy) / r  # rotate by -theta (the shape turns counter-clockwise), unit frame
        y = (-sin * dx + cos * dy) / r
        out[s] = _inside(shape[s].long().unsqueeze(1), x, y).float()
    return out


@dataclass(frozen=True)
class ShapesGrid:
    """The factor grid and its renderer. Defaults are dSprites' grid at 64 x 64 (:data:`DSPRITES`)."""

    resolution: int = 64
    n_scales: int = 6
    n_orientations: int = 40
    n_positions: int = 32
    size: float = 0.2  # radius of the circle enclosing a shape of scale 1, in frame units

    def __post_init__(self) -> None:
        for name in ("resolution", "n_scales", "n_orientations", "n_positions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        checks.number(self.size, "size", "ShapesGrid", minimum=0, strict=True, maximum=0.5,
                      fix="size must be in (0, 0.5): the radius of a scale-1 shape, in frame units")
        if self.size == 0.5:
            checks.fail("ShapesGrid", "size", "in (0, 0.5)", repr(self.size))

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return (len(SHAPES), self.n_scales, self.n_orientations, self.n_positions, self.n_positions)

    @property
    def image_dim(self) -> int:
        return self.resolution**2

    def __len__(self) -> int:
        return math.prod(self.factor_sizes)

    def factor_values(self, factor: int | str) -> torch.Tensor:
        """The values of one factor on the grid (float64; the shape's are its indices 0, 1, 2)."""
        if isinstance(factor, str) and factor not in FACTOR_NAMES:
            checks.fail("ShapesGrid.factor_values", "factor", f"one of {FACTOR_NAMES} or 0-4", repr(factor))
        k = FACTOR_NAMES.index(factor) if isinstance(factor, str) else factor
        if k == 0:
            return torch.arange(len(SHAPES), dtype=torch.float64)
        if k == 1:
            return torch.linspace(0.5, 1.0, self.n_scales, dtype=torch.float64)
        if k == 2:
            return torch.linspace(0.0, 2 * math.pi, self.n_orientations, dtype=torch.float64)
        if k in (3, 4):
            return torch.linspace(0.0, 1.0, self.n_positions, dtype=torch.float64)
        raise ValueError(f"factor must be one of {FACTOR_NAMES} or 0-4, got {factor!r}.")

    def values(self, indices: torch.Tensor) -> torch.Tensor:
        """Factor indices (N, 5) long -> factor values (N, 5) float64."""
        self._check(indices)
        return torch.stack([self.factor_values(k)[indices[:, k]] for k in range(5)], 1)

    def render(self, indices: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
        """Factor indices (N, 5) -> images (N, resolution**2) float32 in {0, 1}."""
        checks.integer(chunk, "chunk", "ShapesGrid.render")
        vals = self.values(indices)
        return render_values(indices[:, 0], vals[:, 1], vals[:, 2], vals[:, 3], vals[:, 4],
                             resolution=self.resolution, size=self.size, chunk=chunk)

    def sample_indices(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` factor combinations drawn uniformly and independently (with replacement): (n, 5) long."""
        checks.integer(n, "n", "ShapesGrid.sample_indices", minimum=0)
        checks.generator(generator, "ShapesGrid.sample_indices")
        return torch.stack([torch.randint(s, (n,), generator=generator) for s in self.factor_sizes], 1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random images and their factor indices: ((n, D) float32, (n, 5) long)."""
        idx = self.sample_indices(n, generator)
        return self.render(idx), idx

    def flat_to_indices(self, flat: torch.Tensor) -> torch.Tensor:
        """Position in the full grid (row-major over the factors) -> factor indices (N, 5)."""
        checks.tensor(flat, "flat", "ShapesGrid.flat_to_indices", kind="int", ndim=1, dims="(N,)")
        if flat.numel() and (flat.min() < 0 or flat.max() >= len(self)):
            checks.fail("ShapesGrid.flat_to_indices", "flat", f"positions in [0, {len(self)})",
                        f"values from {int(flat.min())} to {int(flat.max())}")
        out, rest = [], flat.long()
        for s in reversed(self.factor_sizes):
            out.append(rest % s)
            rest = rest // s
        return torch.stack(out[::-1], 1)

    def indices_to_flat(self, indices: torch.Tensor) -> torch.Tensor:
        self._check(indices)
        flat = torch.zeros(indices.shape[0], dtype=torch.long)
        for k, s in enumerate(self.factor_sizes):
            flat = flat * s + indices[:, k]
        return flat

    def all_indices(self) -> torch.Tensor:
        """Every factor combination of the grid, (len(self), 5), in row-major order."""
        return self.flat_to_indices(torch.arange(len(self)))

    def _check(self, indices: torch.Tensor) -> None:
        where = "ShapesGrid"
        checks.tensor(indices, "indices", where, kind="int", dims="(N, 5)")
        if indices.ndim != 2 or indices.shape[1] != 5:
            checks.fail(where, "indices", "(N, 5): one column per factor", checks.describe(indices),
                        f"the columns are {', '.join(FACTOR_NAMES)}")
        hi = torch.tensor(self.factor_sizes)
        if (indices < 0).any() or (indices >= hi).any():
            checks.fail(where, "indices", f"in range for the factor sizes {self.factor_sizes}",
                        "factor indices out of range", "each column k holds indices 0 .. size_k - 1")


DSPRITES = ShapesGrid()
