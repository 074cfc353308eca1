"""The shared input checks (aevae.checks): each error names the function, the argument, what was expected,
what came and the fix; valid inputs come back unchanged (the same object, or a view)."""

import numpy as np
import pytest
import torch

from aevae import checks


def test_message_format():
    with pytest.raises(ValueError) as err:
        checks.fail("f", "x", "positive", "-1", "pass 1")
    assert str(err.value) == "f: x must be positive; got -1. Fix: pass 1"
    with pytest.raises(TypeError):
        checks.fail("f", "x", "a tensor", "a list", kind=TypeError)


def test_tensor_kind_ndim_and_finiteness():
    x = torch.rand(3, 4)
    assert checks.tensor(x, "x", "f", ndim=2) is x
    with pytest.raises(TypeError, match=r"f: x must be a torch tensor \(N, D\); got a list\. Fix: .*torch\.as_tensor"):
        checks.tensor([1.0], "x", "f", dims="(N, D)")
    with pytest.raises(TypeError, match=r"floating-point.*got a int64 tensor of shape \(2,\).*x\.float\(\)"):
        checks.tensor(torch.arange(2), "x", "f")
    with pytest.raises(TypeError, match="integer"):
        checks.tensor(torch.rand(2), "idx", "f", kind="int")
    with pytest.raises(ValueError, match=r"x must be 2-D; got a float32 tensor of shape \(3,\)"):
        checks.tensor(torch.rand(3), "x", "f", ndim=2)
    bad = torch.tensor([1.0, float("nan"), float("inf"), float("-inf")])
    with pytest.raises(ValueError, match=r"x must be finite; got 1 NaN and 2 infinite value\(s\) among 4"):
        checks.tensor(bad, "x", "f")
    assert checks.tensor(bad, "x", "f", check_finite=False) is bad


def test_in_range_reports_the_range_and_catches_nan():
    checks.in_range(torch.tensor([0.0, 1.0]), "x", "f", 0, 1)
    with pytest.raises(ValueError, match=r"x must be in \[0, 1\]; got values from -0.5 to 3"):
        checks.in_range(torch.tensor([-0.5, 3.0]), "x", "f", 0, 1)
    with pytest.raises(ValueError, match="1 NaN"):
        checks.in_range(torch.tensor([0.5, float("nan")]), "x", "f", 0, 1)
    with pytest.raises(ValueError, match="infinite"):
        checks.in_range(torch.tensor([0.5, float("inf")]), "x", "f", 0, None)


def test_batch_flattens_square_images_as_a_view():
    x = torch.rand(5, 784)
    assert checks.batch(x, 784, "x", "f") is x
    for shape in ((5, 28, 28), (5, 1, 28, 28)):
        images = x.reshape(shape)
        flat = checks.batch(images, 784, "x", "f")
        assert flat.shape == (5, 784) and flat.data_ptr() == x.data_ptr()
    with pytest.raises(ValueError, match=r"\(B, 784\) \(or images \(B, 28, 28\).*got a float32 tensor of shape "
                                         r"\(8, 100\).*input_dim=784.*input_dim=100"):
        checks.batch(torch.rand(8, 100), 784, "x", "f")
    with pytest.raises(ValueError):
        checks.batch(torch.rand(5, 2, 28, 28), 784, "x", "f")
    with pytest.raises(ValueError, match=r"\(B, 20\); got"):  # no image form for a non-square dimension
        checks.batch(torch.rand(3, 4, 5), 20, "x", "f")
    with pytest.raises(TypeError, match="255"):
        checks.batch(torch.zeros(2, 784, dtype=torch.uint8), 784, "x", "f")


def test_integer_number_generator():
    assert checks.integer(np.int64(3), "k", "f") == 3
    for bad in (True, 2.0, "3", None):
        with pytest.raises(TypeError, match="k must be an int"):
            checks.integer(bad, "k", "f")
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 5\]; got 0"):
        checks.integer(0, "k", "f", maximum=5)
    assert checks.number(torch.tensor(2.5), "beta", "f", minimum=0) == 2.5
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
            checks.number(bad, "beta", "f", minimum=0)
    with pytest.raises(ValueError, match="> 0"):
        checks.number(0.0, "std", "f", minimum=0, strict=True)
    with pytest.raises(TypeError):
        checks.number("1", "beta", "f")
    checks.generator(None, "f")
    checks.generator(torch.Generator(), "f")
    with pytest.raises(TypeError, match="torch.Generator"):
        checks.generator(0, "f")


def test_arrays_and_labels():
    a = np.ones((3, 2))
    assert checks.array(a, "codes", "f") is a
    assert isinstance(checks.array(torch.ones(3, 2), "codes", "f"), np.ndarray)
    with pytest.raises(ValueError, match="codes must be finite; got 1 NaN or infinite"):
        checks.array(np.array([[1.0, np.nan]]), "codes", "f")
    with pytest.raises(TypeError, match="integer"):
        checks.array(np.ones((2, 2)), "factors", "f", kind="int")
    with pytest.raises(ValueError, match="at least 2 rows"):
        checks.array(np.ones((1, 2)), "codes", "f", min_rows=2)
    with pytest.raises(ValueError, match=r"one label per example \(3\); got 2 labels"):
        checks.labels(np.array([0, 1]), "y", "f", 3)
    with pytest.raises(ValueError, match="same length"):
        checks.same_rows(np.ones((3, 1)), np.ones((2, 1)), "a and b", "f")


def test_shape_helpers():
    checks.same_shape(torch.ones(2, 3), torch.ones(2, 3), "a and b", "f")
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        checks.same_shape(torch.ones(2, 3), torch.ones(3, 2), "a and b", "f")
    checks.broadcastable(torch.ones(4, 2, 3), torch.ones(2, 3), "z and mu", "f")
    with pytest.raises(ValueError, match="broadcastable"):
        checks.broadcastable(torch.ones(4, 3), torch.ones(2, 3), "z and mu", "f")
    checks.last_dim(torch.ones(5, 2, 3), 3, "z", "f")
    with pytest.raises(ValueError, match="last dimension 3"):
        checks.last_dim(torch.ones(5, 4), 3, "z", "f")
