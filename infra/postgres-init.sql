-- The second database of the stack (the first, dagster, is POSTGRES_DB).
CREATE DATABASE mlflow;
