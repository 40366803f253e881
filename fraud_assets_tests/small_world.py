"""Model settings for a small generated world: windows short enough that two 30-day files give
a model partition whose days all have a full look-back, one model family, and quality floors
that a weak model passes (the tests that use them test the plumbing, not the model)."""

SMALL_MODEL_SETTINGS = {
    "FRAUD_TRAIN_DAYS": "5",
    "FRAUD_DELAY_DAYS": "3",
    "FRAUD_TEST_DAYS": "5",
    "FRAUD_VALIDATION_DAYS": "5",
    "FRAUD_TUNING_FOLDS": "1",
    "FRAUD_MODEL_FAMILIES": "logistic_regression",
    "FRAUD_BOOTSTRAP_RESAMPLES": "200",
    "FRAUD_FLOOR_ROC_AUC": "0.5",
    "FRAUD_FLOOR_AVERAGE_PRECISION": "0.01",
}
