import math

import numpy as np
import pytest
import torch

from aevae.shapes import DSPRITES, FACTOR_NAMES, SHAPES, ShapesGrid, render_values

SMALL = ShapesGrid(resolution=32, n_scales=2, n_orientations=4, n_positions=3)


def test_the_default_grid_is_dsprites():
    assert DSPRITES.factor_sizes == (3, 6, 40, 32, 32)
    assert len(DSPRITES) == 737_280
    assert DSPRITES.image_dim == 64 * 64
    assert FACTOR_NAMES == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert SHAPES == ("square", "ellipse", "heart")
    np.testing.assert_allclose(DSPRITES.factor_values("scale").numpy(), np.linspace(0.5, 1.0, 6))
    np.testing.assert_allclose(DSPRITES.factor_values("orientation").numpy(), np.linspace(0, 2 * np.pi, 40))
    np.testing.assert_allclose(DSPRITES.factor_values("pos_x").numpy(), np.linspace(0, 1, 32))
    np.testing.assert_allclose(DSPRITES.factor_values(4).numpy(), np.linspace(0, 1, 32))


def test_enumeration_counts_and_round_trip():
    idx = SMALL.all_indices()
    assert idx.shape == (len(SMALL), 5) == (3 * 2 * 4 * 3 * 3, 5)
    assert len({tuple(r) for r in idx.tolist()}) == len(SMALL)  # every combination once
    for k, s in enumerate(SMALL.factor_sizes):
        assert torch.bincount(idx[:, k]).tolist() == [len(SMALL) // s] * s  # balanced
    torch.testing.assert_close(SMALL.indices_to_flat(idx), torch.arange(len(SMALL)))
    sample = DSPRITES.sample_indices(1000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(DSPRITES.flat_to_indices(DSPRITES.indices_to_flat(sample)), sample)


def test_render_is_binary_nonempty_and_deterministic():
    images, idx = SMALL.sample(200, torch.Generator().manual_seed(0))
    assert images.shape == (200, 32 * 32) and images.dtype == torch.float32
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    assert (images.sum(1) > 0).all()
    again, idx2 = SMALL.sample(200, torch.Generator().manual_seed(0))
    assert torch.equal(images, again) and torch.equal(idx, idx2)
    other, _ = SMALL.sample(200, torch.Generator().manual_seed(1))
    assert not torch.equal(images, other)
    torch.testing.assert_close(SMALL.render(idx, chunk=7), images)  # chunking changes nothing


def test_values_and_validation():
    idx = torch.tensor([[2, 1, 3, 0, 2]])
    vals = SMALL.values(idx)
    torch.testing.assert_close(vals, torch.tensor([[2.0, 1.0, 2 * math.pi, 0.0, 1.0]], dtype=torch.float64))
    with pytest.raises(ValueError):
        SMALL.render(torch.tensor([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError):
        SMALL.render(torch.tensor([[0, 0, 0, 0]]))
    with pytest.raises(ValueError):
        ShapesGrid(resolution=0)
    with pytest.raises(ValueError):
        ShapesGrid(size=0.6)


@pytest.mark.parametrize("resolution", [64, 32])
def test_every_factor_changes_the_image(resolution):
    grid = ShapesGrid(resolution=resolution)
    g = torch.Generator().manual_seed(0)
    base = grid.sample_indices(300, g)
    base[:, 2] = torch.randint(1, 39, (300,), generator=g)  # orientations 1..38: clear of the 0 = 2 pi pair
    for k, size in enumerate(grid.factor_sizes):
        ref = base.clone()
        if k == 2:  # only the heart has no rotational symmetry
            ref[:, 0] = 2
        changed = ref.clone()
        if k == 2:
            changed[:, 2] = (ref[:, 2] - 1 + torch.randint(1, 38, (300,), generator=g)) % 38 + 1
        else:
            changed[:, k] = (ref[:, k] + torch.randint(1, size, (300,), generator=g)) % size
        assert (changed[:, k] != ref[:, k]).all()
        differs = (grid.render(changed) != grid.render(ref)).any(1)
        # at 32 pixels a few small shapes turned by a few degrees rasterise to the same pixels
        enough = differs.all() if resolution == 64 else differs.float().mean() >= 0.98
        assert enough, f"changing {FACTOR_NAMES[k]} left {int((~differs).sum())} of 300 images unchanged"


def test_one_step_of_each_factor_changes_the_image_at_64_pixels():
    base = torch.tensor([[1, 3, 10, 15, 15]])  # an ellipse in the middle (one step of shape: a heart)
    ref = DSPRITES.render(base)
    for k in range(5):
        step = base.clone()
        step[0, k] += 1
        assert (DSPRITES.render(step) != ref).any(), f"one step of {FACTOR_NAMES[k]} does not change the image"


def test_documented_symmetries():
    grid = ShapesGrid(resolution=64)
    idx = grid.sample_indices(200, torch.Generator().manual_seed(3))
    first, last = idx.clone(), idx.clone()
    first[:, 2], last[:, 2] = 0, 39  # orientation 0 and 2 pi
    assert torch.equal(grid.render(first), grid.render(last))

    n = 50
    g = torch.Generator().manual_seed(4)
    theta = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    scale, px, py = torch.rand(n, generator=g) * 0.5 + 0.5, torch.rand(n, generator=g), torch.rand(n, generator=g)

    def frac_differ(shape, turn):
        s = torch.full((n,), shape)
        a = render_values(s, scale, theta, px, py)
        b = render_values(s, scale, theta + turn, px, py)
        return float((a != b).float().sum() / a.sum())

    assert frac_differ(0, math.pi / 2) < 0.01  # square: 90 degrees (only pixels on the boundary may flip)
    assert frac_differ(1, math.pi) < 0.01  # ellipse: 180 degrees
    assert frac_differ(0, math.pi / 4) > 0.1 and frac_differ(1, math.pi / 2) > 0.3
    assert frac_differ(2, math.pi) > 0.3 and frac_differ(2, math.pi / 2) > 0.3  # the heart has none


def test_shapes_stay_inside_the_frame():
    # Extreme positions, largest scale, every orientation: render on a canvas twice as wide at the same
    # pixel pitch; no pixel of any shape may fall outside the unit frame.
    grid = ShapesGrid(resolution=32)
    rows = [[s, 5, o, x, y] for s in range(3) for o in range(40) for x in (0, 31) for y in (0, 31)]
    idx = torch.tensor(rows)
    vals = grid.values(idx)
    inside = grid.render(idx).sum(1)
    wide = render_values(idx[:, 0], vals[:, 1], vals[:, 2], vals[:, 3], vals[:, 4], resolution=32,
                         extent=(-0.5, 1.5))
    torch.testing.assert_close(wide.sum(1), inside)
    # ... and the positions use the frame: at position 0 the shape comes within 2 pixels of the edge
    img = grid.render(torch.tensor([[0, 5, 0, 0, 0]])).reshape(32, 32)
    rows_on, cols_on = img.nonzero(as_tuple=True)
    assert int(rows_on.min()) <= 2 and int(cols_on.min()) <= 2


def test_areas_match_the_geometry():
    # At scale 1 each shape fits a circle of radius 0.2 * 64 = 12.8 pixels: the square has half-diagonal r
    # (area 2 r^2), the ellipse semi-axes r and r/2 (pi r^2 / 2), the heart (1 + pi/4) / (1/sqrt 2 + 0.2215)^2 r^2 = 2.07 r^2.
    r = 0.2 * 64
    idx = torch.tensor([[s, 5, 0, 16, 16] for s in range(3)])
    areas = DSPRITES.render(idx).sum(1)
    for area, expected in zip(areas.tolist(), [2 * r**2, math.pi * r**2 / 2, 2.0703 * r**2]):
        assert abs(area - expected) < 0.05 * expected
    small = DSPRITES.render(torch.tensor([[0, 0, 0, 16, 16]])).sum()
    assert abs(float(small) / float(areas[0]) - 0.25) < 0.03  # scale 0.5: a quarter of the area


def test_the_heart_is_a_heart():
    # Upright heart (orientation 0) at the centre: mirror-symmetric left-right, not up-down, two lobes
    # at the top (a notch in the middle), a single point at the bottom.
    img = render_values(torch.tensor([2]), torch.tensor([1.0]), torch.tensor([0.0]),
                        torch.tensor([0.5]), torch.tensor([0.5])).reshape(64, 64)
    assert torch.equal(img, img.flip(1))
    assert not torch.equal(img, img.flip(0))
    rows = img.nonzero()[:, 0]
    top, bottom = int(rows.min()), int(rows.max())
    runs = lambda row: int((row[1:] > row[:-1]).sum() + row[0])  # noqa: E731  number of runs of ones
    assert runs(img[top]) == 2 and runs(img[top + 1]) == 2, "the top of the heart should have two lobes"
    assert runs(img[(top + bottom) // 2]) == 1
    assert img[bottom].sum() <= 3, "the bottom of the heart should end in a tip"
    assert img[top].sum() < img[(top + bottom) // 2].sum()
    # the lobes are above the widest row, the tip below: the widest row is in the upper half
    widest = int(img.sum(1).argmax())
    assert widest < (top + bottom) / 2
