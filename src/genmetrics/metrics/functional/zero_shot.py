"""Zero-shot object precision and recall: "did it draw the object it was asked for?".

Each image has an intended class; CLIP classifies it among the label set by the highest
cosine similarity to the text "a photo of a {label}". Per class c: precision = TP / (TP + FP)
over images *predicted* c; recall = TP / (TP + FN) over images *intended* as c. Macro averages
weigh equally every class that occurs (intended or predicted), an undefined value counting
as 0 (scikit-learn's ``zero_division=0``); micro averages pool all images
(with one prediction per image, micro precision = micro recall = accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genmetrics.metrics.functional.clip_score import normalize


@dataclass
class ZeroShotResult:
    labels: list[str]
    predicted: np.ndarray  # (N,) index into labels
    confusion: np.ndarray  # (C, C): rows intended, columns predicted
    precision: np.ndarray  # (C,) NaN where no image was predicted as the class
    recall: np.ndarray  # (C,) NaN where no image was intended as the class
    macro_precision: float
    macro_recall: float
    micro_precision: float
    micro_recall: float


def zero_shot_classify(image_embeds: np.ndarray, label_embeds: np.ndarray) -> np.ndarray:
    return np.argmax(normalize(image_embeds) @ normalize(label_embeds).T, axis=1)


def object_precision_recall(intended: np.ndarray, predicted: np.ndarray, labels: list[str]) -> ZeroShotResult:
    """Confusion matrix and per-class / macro / micro precision and recall."""
    c = len(labels)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (np.asarray(intended), np.asarray(predicted)), 1)
    tp = np.diag(confusion).astype(np.float64)
    pred_count = confusion.sum(axis=0).astype(np.float64)
    true_count = confusion.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred_count > 0, tp / pred_count, np.nan)
        recall = np.where(true_count > 0, tp / true_count, np.nan)
    micro = float(tp.sum() / max(confusion.sum(), 1))
    seen = (true_count > 0) | (pred_count > 0)  # classes that occur at all
    return ZeroShotResult(
        labels, np.asarray(predicted), confusion, precision, recall,
        float(np.nan_to_num(precision, nan=0.0)[seen].mean()),
        float(np.nan_to_num(recall, nan=0.0)[seen].mean()), micro, micro,
    )
