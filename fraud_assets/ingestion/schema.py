"""Column names of the landing format and of the raw, cleaned and quarantined tables."""

from __future__ import annotations

FIELDS = (
    "transaction_id",
    "tx_datetime",
    "customer_id",
    "terminal_id",
    "tx_amount",
    "tx_time_seconds",
    "tx_time_days",
    "tx_fraud",
    "tx_fraud_scenario",
)
# The feed's header has carried this typo for years; both spellings are accepted.
HEADER_ALIASES = {"tranaction_id": "transaction_id"}
SENTINEL_CUSTOMER_ID = -999_999
DATETIME_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"

LINEAGE = ("source_file", "line_number", "day")
RAW_TEXT_COLUMNS = (*LINEAGE, *FIELDS, "field_count", "raw_line")
# Each field as typed by the cleaning rules (null where the text breaks them), stored in raw
# next to the text so that the text is parsed once.
TYPED_FIELDS = tuple(f"_{name}" for name in FIELDS)
FIELD_REASON = "_field_reason"
CLEANED_COLUMNS = (*FIELDS, "source_file", "line_number", "day")
QUARANTINED_COLUMNS = (*LINEAGE, "reason", *FIELDS, "raw_line")
REQUIRED_CLEANED_COLUMNS = (*FIELDS, "source_file", "line_number", "day")
