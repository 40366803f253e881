import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from fraud_assets.model.bootstrap import (
    bootstrap_replicates,
    bootstrap_single,
    paired_bootstrap,
    resample_weights,
)
from fraud_assets.model.metrics import METRICS, RankedScores
from fraud_assets_tests.test_model.synthetic import noisy_scores, synthetic_set


@pytest.mark.parametrize("unit", ["transaction", "customer_day"])
def test_identical_models_are_never_significant(unit):
    rng = np.random.default_rng(1)
    evaluation, labels, _, _ = synthetic_set(rng)
    scores = noisy_scores(rng, labels, 2.0)
    result = paired_bootstrap(scores, scores.copy(), evaluation, resamples=200, unit=unit)
    for comparison in result.comparisons.values():
        assert comparison.difference.observed == 0
        assert comparison.difference.std == 0
        assert not comparison.significant(0.05)
        assert comparison.t_p_value == 1.0
    assert all((d == 0).all() for d in result.differences.values())


@pytest.mark.parametrize("unit", ["transaction", "customer_day"])
def test_a_clearly_better_model_is_significant(unit):
    rng = np.random.default_rng(2)
    # More customers a day than the 100 of Card Precision, so the ranking matters.
    evaluation, labels, _, _ = synthetic_set(rng, customers=400)
    weak, strong = noisy_scores(rng, labels, 0.5), noisy_scores(rng, labels, 3.0)
    result = paired_bootstrap(weak, strong, evaluation, resamples=300, unit=unit)
    for metric in ("roc_auc", "average_precision", "card_precision_at_100"):
        comparison = result.comparisons[metric]
        assert comparison.significant(0.05), metric
        assert comparison.difference.ci_low > 0
        assert comparison.t_p_value < 0.05
    # The reverse question, is the weaker one better, is not significant.
    reverse = paired_bootstrap(strong, weak, evaluation, resamples=300, unit=unit)
    assert not reverse.comparisons["average_precision"].significant(0.05)
    assert reverse.comparisons["average_precision"].p_value > 0.99


def test_p_values_are_calibrated_under_the_null():
    """Two models equally good in expectation: about alpha of the test sets reject."""
    rng = np.random.default_rng(5)
    runs, alpha = 300, 0.05
    rejected = {"roc_auc": 0, "average_precision": 0}
    for seed in range(runs):
        evaluation, labels, _, _ = synthetic_set(rng, days=4, customers=50, fraud_rate=0.15)
        champion, candidate = noisy_scores(rng, labels, 1.0), noisy_scores(rng, labels, 1.0)
        result = paired_bootstrap(champion, candidate, evaluation, resamples=200, seed=seed)
        for metric in rejected:
            rejected[metric] += result.comparisons[metric].significant(alpha)
    # Binomial(300, 0.05): mean 15, sd 3.8; the bounds are about 3 sd away.
    for metric, count in rejected.items():
        assert 4 <= count <= 27, (metric, count)


@pytest.mark.parametrize("unit", ["transaction", "customer_day"])
def test_a_replicate_is_the_metric_of_its_resample(unit):
    rng = np.random.default_rng(6)
    evaluation, labels, _, _ = synthetic_set(rng)
    scores = np.round(noisy_scores(rng, labels, 1.0), 2)
    # Three resamples are one chunk, drawn from the first stream spawned from the seed.
    (stream,) = np.random.SeedSequence(9).spawn(1)
    row_weights, unit_weights = resample_weights(evaluation, unit, 3, np.random.default_rng(stream))
    expected_size = evaluation.rows if unit == "transaction" else evaluation.units
    sizes = row_weights.sum(axis=1) if unit == "transaction" else unit_weights.sum(axis=1)
    assert (sizes == expected_size).all()
    (replicates,) = bootstrap_replicates(
        [RankedScores.build(scores, evaluation)], evaluation, 3, unit, seed=9
    )
    for b in range(3):
        counts = row_weights[b].astype(int)
        expected = average_precision_score(np.repeat(labels, counts), np.repeat(scores, counts))
        assert replicates["average_precision"][b] == pytest.approx(expected, abs=1e-12)


def test_single_model_bootstrap_brackets_its_observed_value():
    rng = np.random.default_rng(7)
    evaluation, labels, _, _ = synthetic_set(rng)
    estimates = bootstrap_single(noisy_scores(rng, labels, 2.0), evaluation, resamples=300)
    assert set(estimates) == set(METRICS)
    for estimate in estimates.values():
        assert estimate.ci_low <= estimate.observed <= estimate.ci_high
        assert estimate.std > 0


def test_bad_options_are_refused():
    rng = np.random.default_rng(8)
    evaluation, labels, _, _ = synthetic_set(rng)
    scores = noisy_scores(rng, labels, 1.0)
    with pytest.raises(ValueError, match="resampling unit"):
        paired_bootstrap(scores, scores, evaluation, unit="card")
    with pytest.raises(ValueError, match="alternative"):
        paired_bootstrap(scores, scores, evaluation, alternative="less")
