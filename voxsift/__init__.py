"""voxsift: curate, select and shard speech fine-tuning corpora with Apache Beam."""

import logging


def _not_beam_bigquery_noise(record: logging.LogRecord) -> bool:
    """Beam warns at import that optional BigQuery clients are missing; voxsift never uses them."""
    return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_not_beam_bigquery_noise)
