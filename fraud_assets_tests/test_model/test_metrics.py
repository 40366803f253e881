import numpy as np
import pandas as pd
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


def test_card_precision_leaves_out_cards_found_on_an_earlier_day():
    # Day 0: customers 1 (0.9, fraud) and 2 (0.4, fraud).
    # Day 1: 1 (0.95, fraud), 3 (0.6, genuine), 2 (0.5, fraud).
    # Day 2: 4 (0.8, genuine), 2 (0.7, fraud).
    customers = np.array([1, 2, 1, 3, 2, 2, 4])
    days = np.array([0, 0, 1, 1, 1, 2, 2])
    labels = np.array([1, 1, 1, 0, 1, 1, 0.0])
    scores = np.array([0.9, 0.4, 0.95, 0.6, 0.5, 0.7, 0.8])
    evaluation = EvaluationSet.build(labels, customers, days)
    ranked = RankedScores.build(scores, evaluation)
    ones = np.ones((1, evaluation.units))
    # k = 1: card 1 is found on day 0, so day 1's top is customer 3 and day 2's customer 4.
    # Ranking each day afresh would give [1, 1, 0] (card 1 found again on day 1), mean 2/3.
    assert ranked.card_precision(ones, top_k=1)[0].tolist() == [1.0, 0.0, 0.0]
    # k = 2: cards 1 and 2 are found on day 0; later days rank only customers 3 and 4.
    # Afresh: [1, 0.5, 0.5].
    assert ranked.card_precision(ones, top_k=2)[0].tolist() == [1.0, 0.0, 0.0]
    # k = 100, the metric reported: 2 frauds on day 0, none left after. Afresh: 5/300.
    assert evaluate(scores, evaluation)["card_precision_at_100"] == pytest.approx(2 / 300)


def test_card_precision_matches_the_handbooks_procedure():
    rng = np.random.default_rng(5)
    evaluation, labels, customers, days = synthetic_set(rng)
    scores = np.round(noisy_scores(rng, labels, 1.0), 2)
    expected = handbook_card_precision(scores, labels, customers, days, top_k=20)
    ranked = RankedScores.build(scores, evaluation)
    actual = ranked.card_precision(np.ones((1, evaluation.units)), top_k=20)[0]
    np.testing.assert_allclose(actual, expected, atol=1e-12)


def handbook_card_precision(scores, labels, customers, days, top_k):
    """The handbook's procedure, literally: rank each day's customers by their highest score,
    count the frauds among the first top_k, and drop those cards from the later days."""
    table = pd.DataFrame({"score": scores, "fraud": labels, "customer": customers, "day": days})
    blocked: set[int] = set()
    per_day = []
    for day in sorted(table.day.unique()):
        today = table[(table.day == day) & ~table.customer.isin(blocked)]
        by_customer = today.groupby("customer").max().reset_index()
        # Ties go to the lower customer id, the order the metric uses.
        top = by_customer.sort_values(["score", "customer"], ascending=[False, True]).head(top_k)
        found = top[top.fraud == 1].customer
        per_day.append(len(found) / top_k)
        blocked |= set(found)
    return np.array(per_day)


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
