"""Testing with several views of each picture: the answer is the mean probability over the
picture, its mirror image and its copies moved one pixel (edges mirrored), computed here by hand."""

import torch

from cnn_core.architecture import Architecture, Conv, Linear
from cnn_core.model import build_model
from cnn_core.training import evaluate


def _moved(images: torch.Tensor, step: int) -> torch.Tensor:
    """Each pixel (i, j) takes the value at (i + step, j + step), mirrored at the edges
    (index -1 reads 1, index H reads H - 2)."""
    h = images.shape[2]
    index = [abs(i + step) if i + step >= 0 else -(i + step) for i in range(h)]
    index = [2 * (h - 1) - i if i > h - 1 else i for i in index]
    return images[:, :, index][:, :, :, index]


def test_six_views_are_the_mean_probability_of_each_view():
    torch.manual_seed(0)
    model = build_model(Architecture((Conv(4, 3, 1, 0), Linear(10))), (3, 8, 8), 10, seed=3).eval()
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    labels = torch.randint(0, 10, (5,))
    x = images.float() / 255
    views = [x, _moved(x, -1), _moved(x, 1)]
    views += [v.flip(3) for v in views]
    with torch.no_grad():
        expected = torch.stack([model(v).softmax(1) for v in views]).mean(0)
    loss, accuracy, probabilities = evaluate(model, images, labels, flip=True, shifts=True)
    assert torch.allclose(probabilities, expected, atol=1e-6)
    assert abs(loss - float(-expected[torch.arange(5), labels].log().mean())) < 1e-5
    assert accuracy == int((expected.argmax(1) == labels).sum()) / 5
    # One view is the plain forward pass; shifts without flips are the three unmirrored views.
    _, _, plain = evaluate(model, images, labels)
    assert torch.allclose(plain, model(x).softmax(1).detach(), atol=1e-6)
    _, _, three = evaluate(model, images, labels, shifts=True)
    with torch.no_grad():
        assert torch.allclose(three, torch.stack([model(v).softmax(1) for v in views[:3]]).mean(0), atol=1e-6)
