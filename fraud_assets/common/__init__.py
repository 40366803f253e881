"""What several domains share: reference profiles and drift, score columns, port probes."""
