"""Classification metrics from labels and predictions: plain tensors in, plain Python out.

Everything here is what the Metrics page and `train --json` report: accuracy, the confusion matrix
(rows are true classes, columns predicted), per-class precision, recall, F1 and support, top-k
predictions with probabilities, and the class pairs the model confuses most.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def accuracy(labels: torch.Tensor, predictions: torch.Tensor) -> float:
    """Fraction of predictions equal to the label, from 0 to 1 (0 for no images)."""
    if labels.numel() == 0:
        return 0.0
    return int((labels == predictions).sum()) / labels.numel()


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts (num_classes, num_classes): entry [t, p] = images of class t predicted as p."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


@dataclass(frozen=True)
class ClassScores:
    name: str
    precision: float  # of the images predicted as this class, the fraction that are
    recall: float  # of the images of this class, the fraction found
    f1: float
    support: int  # images of this class


def per_class_scores(matrix: torch.Tensor, classes: tuple[str, ...] | list[str]) -> list[ClassScores]:
    """Precision, recall, F1 and support per class; a score with nothing to divide by is 0."""
    matrix = matrix.to(torch.float64)
    true_positive = matrix.diagonal()
    predicted = matrix.sum(dim=0)
    actual = matrix.sum(dim=1)
    scores = []
    for i, name in enumerate(classes):
        tp = float(true_positive[i])
        precision = tp / float(predicted[i]) if predicted[i] else 0.0
        recall = tp / float(actual[i]) if actual[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ClassScores(name, precision, recall, f1, int(actual[i])))
    return scores


def confusion_cell(
    labels: torch.Tensor, predictions: torch.Tensor, true_class: int, predicted_class: int
) -> torch.Tensor:
    """Positions of the images behind one confusion-matrix cell: of class `true_class`, predicted
    as `predicted_class` (e.g. the cats taken for dogs)."""
    return ((labels == true_class) & (predictions == predicted_class)).nonzero().flatten()


def confident_mistakes(labels: torch.Tensor, probabilities: torch.Tensor, true_class: int, n: int = 6) -> torch.Tensor:
    """Positions of the `n` pictures of `true_class` the network got wrong most confidently: those
    whose wrong answer had the highest probability, highest first."""
    said = probabilities.argmax(1)
    wrong = ((labels == true_class) & (said != labels)).nonzero().flatten()
    confidence = probabilities[wrong, said[wrong]]
    return wrong[confidence.argsort(descending=True, stable=True)[:n]]


def top_k(probabilities: torch.Tensor, classes: tuple[str, ...] | list[str], k: int = 3) -> list[tuple[str, float]]:
    """The k most likely classes for one image, most likely first, as (name, probability)."""
    k = min(k, probabilities.numel())
    values, indices = probabilities.topk(k)
    return [(classes[int(i)], float(v)) for v, i in zip(values, indices, strict=True)]


@dataclass(frozen=True)
class Confusion:
    true_class: str
    predicted_class: str
    count: int
    fraction: float  # of the true class's images


def most_confused(matrix: torch.Tensor, classes: tuple[str, ...] | list[str], n: int = 5) -> list[Confusion]:
    """The n largest off-diagonal counts, largest first (ties: lower class index first)."""
    off = matrix.clone().long()
    off.fill_diagonal_(0)
    row_totals = matrix.sum(dim=1)
    pairs = []
    for flat in torch.argsort(off.flatten(), descending=True, stable=True)[:n].tolist():
        t, p = divmod(flat, matrix.shape[1])
        count = int(off[t, p])
        if count == 0:
            break
        pairs.append(Confusion(classes[t], classes[p], count, count / float(row_totals[t])))
    return pairs


def summary(labels: torch.Tensor, probabilities: torch.Tensor, classes: tuple[str, ...] | list[str]) -> dict:
    """Everything above for one evaluated split, as JSON-ready Python values."""
    predictions = probabilities.argmax(dim=1)
    matrix = confusion_matrix(labels, predictions, len(classes))
    return {
        "accuracy": accuracy(labels, predictions),
        "images": int(labels.numel()),
        "classes": list(classes),
        "confusion_matrix": matrix.tolist(),
        "per_class": [vars(score) for score in per_class_scores(matrix, classes)],
        "most_confused": [vars(pair) for pair in most_confused(matrix, classes)],
    }
