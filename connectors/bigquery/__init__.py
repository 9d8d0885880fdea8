"""BigQuery source: `connection.py` (the connector), `auth.py` (service account / ADC / emulator -> client),
`catalog.py` (INFORMATION_SCHEMA bulk introspection with an API-listing fallback, nested fields flattened),
`statements.py` (job configuration, query parameters), `types.py` (type normalization), `errors.py`
(google.api_core exceptions -> connector errors), `profile.py` (the shared profiler)."""

from connectors.bigquery.connection import BigQueryConnector

__all__ = ["BigQueryConnector"]
