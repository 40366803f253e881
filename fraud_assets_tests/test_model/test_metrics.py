import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fraud_assets.model.metrics import EvaluationSet, RankedScores, evaluate
from fraud_assets_tests.test_model.synthetic import noisy_scores, synthetic_set


def single_day(labels: list[float]) -> EvaluationSet:
    return EvaluationSet.build(np.array(labels), np.arange(len(labels)), np.zeros(len(labels)))


def test_auc_and_average_precision_by_hand():
    metrics = evaluate(np.array([0.9, 0.8, 0.7, 0.6]), single_day([1, 0, 1, 0]))
    # Positives at ranks 1 and 3: precision 1 and 2/3; 3 of 4 positive-negative pairs ordered.
    assert metrics["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["roc_auc"] == pytest.approx(0.75)


def test_tied_scores_are_one_threshold():
    metrics = evaluate(np.array([0.5, 0.5]), single_day([1, 0]))
    assert metrics["roc_auc"] == pytest.approx(0.5)
    assert metrics["average_precision"] == pytest.approx(0.5)


def test_precision_recall_f1_at_the_threshold_keeping_fpr_under_5_percent():
    # 40 negatives: at most one false positive keeps FPR < 5%.
    scores = [1.0, 0.9, 0.85, 0.8, *np.linspace(0.5, 0.1, 38), 0.01]
    labels = [1, 0, 1, 0, *[0] * 38, 1]
    metrics = evaluate(np.array(scores), single_day(labels))
    assert metrics["threshold_at_fpr"] == 0.85
    assert metrics["precision_at_fpr"] == pytest.approx(2 / 3)
    assert metrics["recall_at_fpr"] == pytest.approx(2 / 3)
    assert metrics["f1_at_fpr"] == pytest.approx(2 / 3)


def test_card_precision_at_k_by_hand():
    # Day 0: customer 1 (max score 0.9, one fraud), 2 (0.8, none), 3 (0.7, fraud).
    # Day 1: customer 4 (0.3, fraud), 5 (0.1, none). Day 2: customer 6 alone (fraud).
    customers = np.array([1, 1, 2, 3, 4, 5, 6])
    days = np.array([0, 0, 0, 0, 1, 1, 2])
    labels = np.array([0, 1, 0, 1, 1, 0, 1.0])
    scores = np.array([0.9, 0.2, 0.8, 0.7, 0.3, 0.1, 0.5])
    evaluation = EvaluationSet.build(labels, customers, days)
    ranked = RankedScores.build(scores, evaluation)
    per_day = ranked.card_precision(np.ones((1, evaluation.units)), top_k=2)[0]
    # Top 2 per day: {1, 2} -> 1 fraud; {4, 5} -> 1; {6} -> 1, always divided by k = 2.
    np.testing.assert_allclose(per_day, [0.5, 0.5, 0.5])
    assert ranked.card_precision(np.ones((1, evaluation.units)), top_k=1)[0].tolist() == [
        1.0,
        1.0,
        1.0,
    ]


def test_card_precision_counts_a_customer_once_a_day():
    evaluation = EvaluationSet.build(np.array([1, 1, 1, 0.0]), np.array([7, 7, 7, 8]), np.zeros(4))
    ranked = RankedScores.build(np.array([0.9, 0.8, 0.7, 0.1]), evaluation)
    assert ranked.card_precision(np.ones((1, 2)), top_k=2)[0].tolist() == [0.5]


def test_agrees_with_scikit_learn_on_tied_random_scores():
    rng = np.random.default_rng(3)
    evaluation, labels, _, _ = synthetic_set(rng)
    scores = np.round(noisy_scores(rng, labels, 1.0), 1)
    metrics = evaluate(scores, evaluation)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics["average_precision"] == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )


def test_a_weighting_is_the_metric_of_the_repeated_rows():
    rng = np.random.default_rng(4)
    evaluation, labels, customers, days = synthetic_set(rng)
    scores = np.round(noisy_scores(rng, labels, 1.5), 2)
    counts = rng.integers(0, 3, size=len(labels)).astype(float)
    ranked = RankedScores.build(scores, evaluation)
    weighted = ranked.metrics(counts[None, :], evaluation.units_present(counts[None, :]))
    repeated_labels = np.repeat(labels, counts.astype(int))
    repeated_scores = np.repeat(scores, counts.astype(int))
    assert weighted["roc_auc"][0] == pytest.approx(
        roc_auc_score(repeated_labels, repeated_scores), abs=1e-12
    )
    assert weighted["average_precision"][0] == pytest.approx(
        average_precision_score(repeated_labels, repeated_scores), abs=1e-12
    )
    # Card Precision ranks customer-days: keep or drop whole ones to compare with a subset.
    unit_kept = rng.random(evaluation.units) < 0.6
    kept = unit_kept[evaluation.unit_of_row]
    weighted = ranked.metrics(kept[None, :].astype(float), unit_kept[None, :].astype(float))
    subset = EvaluationSet.build(labels[kept], customers[kept], days[kept])
    assert weighted["card_precision_at_100"][0] == pytest.approx(
        evaluate(scores[kept], subset)["card_precision_at_100"]
    )


@pytest.mark.parametrize(
    ("scores", "message"),
    [(np.array([0.1]), "1 scores for 2 rows"), (np.array([0.1, np.nan]), "finite")],
)
def test_bad_scores_are_refused(scores, message):
    with pytest.raises(ValueError, match=message):
        RankedScores.build(scores, single_day([1, 0]))


def test_labels_must_be_binary():
    with pytest.raises(ValueError, match="0 or 1"):
        single_day([1, 2])
