"""Metrics against values worked out by hand."""

import pytest
import torch

from cnn_core.metrics import (
    accuracy,
    confusion_cell,
    confusion_matrix,
    most_confused,
    per_class_scores,
    summary,
    top_k,
)

CLASSES = ("cat", "dog", "bird")
#                        true:  cat cat cat dog dog bird bird bird
LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
PREDS = torch.tensor([0, 1, 1, 1, 0, 2, 2, 1])


def test_confusion_matrix_by_hand():
    # rows = true class, columns = predicted
    assert confusion_matrix(LABELS, PREDS, 3).tolist() == [
        [1, 2, 0],  # cats: 1 right, 2 taken for dogs
        [1, 1, 0],  # dogs: 1 taken for a cat, 1 right
        [0, 1, 2],  # birds: 1 taken for a dog, 2 right
    ]
    assert accuracy(LABELS, PREDS) == pytest.approx(4 / 8)


def test_precision_recall_f1_by_hand():
    scores = per_class_scores(confusion_matrix(LABELS, PREDS, 3), CLASSES)
    cat, dog, bird = scores
    assert (cat.precision, cat.recall, cat.support) == (pytest.approx(1 / 2), pytest.approx(1 / 3), 3)
    assert (dog.precision, dog.recall, dog.support) == (pytest.approx(1 / 4), pytest.approx(1 / 2), 2)
    assert (bird.precision, bird.recall, bird.support) == (pytest.approx(1.0), pytest.approx(2 / 3), 3)
    assert cat.f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_a_class_never_predicted_scores_zero_not_nan():
    scores = per_class_scores(confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 2), ("a", "b"))
    assert scores[1].precision == 0.0 and scores[1].f1 == 0.0


def test_most_confused_pairs_largest_first():
    pairs = most_confused(confusion_matrix(LABELS, PREDS, 3), CLASSES, n=5)
    assert [(p.true_class, p.predicted_class, p.count) for p in pairs] == [
        ("cat", "dog", 2),
        ("dog", "cat", 1),
        ("bird", "dog", 1),
    ]
    assert pairs[0].fraction == pytest.approx(2 / 3)


def test_top_k():
    probs = torch.tensor([0.1, 0.6, 0.3])
    assert top_k(probs, CLASSES, k=2) == [("dog", pytest.approx(0.6)), ("bird", pytest.approx(0.3))]
    assert len(top_k(probs, CLASSES, k=10)) == 3


def test_summary_is_json_ready():
    import json

    probs = torch.nn.functional.one_hot(PREDS, 3).float()
    result = summary(LABELS, probs, CLASSES)
    assert result["accuracy"] == pytest.approx(0.5)
    assert json.loads(json.dumps(result)) == result


def test_the_images_behind_a_cell():
    # The two cats taken for dogs are images 1 and 2; the bird taken for a dog is image 7.
    assert confusion_cell(LABELS, PREDS, 0, 1).tolist() == [1, 2]
    assert confusion_cell(LABELS, PREDS, 2, 1).tolist() == [7]
    assert confusion_cell(LABELS, PREDS, 1, 2).tolist() == []
    counts = confusion_matrix(LABELS, PREDS, 3)
    assert all(len(confusion_cell(LABELS, PREDS, t, p)) == counts[t, p] for t in range(3) for p in range(3))


def test_the_most_confident_mistakes_of_a_class_come_first():
    from cnn_core.metrics import confident_mistakes

    labels = torch.tensor([0, 0, 0, 0, 1, 0])
    probabilities = torch.tensor(
        [
            [0.9, 0.1],  # right
            [0.3, 0.7],  # wrong, 70% sure
            [0.1, 0.9],  # wrong, 90% sure
            [0.45, 0.55],  # wrong, 55% sure
            [0.05, 0.95],  # another class
            [0.6, 0.4],  # right
        ]
    )
    assert confident_mistakes(labels, probabilities, 0).tolist() == [2, 1, 3]
    assert confident_mistakes(labels, probabilities, 0, n=2).tolist() == [2, 1]
    assert confident_mistakes(labels, probabilities, 1).tolist() == []
