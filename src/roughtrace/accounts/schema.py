"""Schema version 11: the HTTP service's tables.

- accounts: who may call the service: a role, the party it acts for, the country a KP authority
  answers for, the SHA-256 of its token (never the token), when it was made, expires and was revoked.
- service_jobs: one row per accepted upload: its kind, the spooled file, the uploading account and
  party and role, its state (queued, running, done, failed), and the import's result as JSON when done.
- finding_answers: a sightholder's note on one of its findings, by the finding's stable id, with the
  ledger entry that logged it.
"""

from __future__ import annotations

from ..store.schema import Migration

ACCOUNTS_DDL = """CREATE TABLE accounts (
  account_id VARCHAR PRIMARY KEY,
  name VARCHAR NOT NULL UNIQUE,
  role VARCHAR NOT NULL,
  party_id VARCHAR,
  country VARCHAR,
  token_sha256 VARCHAR NOT NULL UNIQUE,
  created_at TIMESTAMP NOT NULL,
  expires_at TIMESTAMP,
  revoked_at TIMESTAMP
)"""

JOBS_DDL = """CREATE TABLE service_jobs (
  job_id VARCHAR PRIMARY KEY,
  kind VARCHAR NOT NULL,
  file_name VARCHAR NOT NULL,
  file_format VARCHAR,
  spool_path VARCHAR NOT NULL,
  bytes BIGINT NOT NULL,
  account_id VARCHAR NOT NULL,
  role VARCHAR NOT NULL,
  party_id VARCHAR,
  state VARCHAR NOT NULL,
  batch_id BIGINT,
  result VARCHAR,
  submitted_at TIMESTAMP NOT NULL,
  started_at TIMESTAMP,
  finished_at TIMESTAMP
)"""

ANSWERS_DDL = """CREATE TABLE finding_answers (
  answer_id VARCHAR PRIMARY KEY,
  finding_id VARCHAR NOT NULL,
  sightholder_id VARCHAR NOT NULL,
  account_id VARCHAR NOT NULL,
  note VARCHAR NOT NULL,
  answered_at TIMESTAMP NOT NULL,
  entry_index BIGINT
)"""

MIGRATION = Migration(
    version=11,
    description="the HTTP service: accounts, import jobs, answers to findings",
    statements=(ACCOUNTS_DDL, JOBS_DDL, ANSWERS_DDL,
                "CREATE INDEX service_jobs_batch ON service_jobs (batch_id)",
                "CREATE INDEX finding_answers_finding ON finding_answers (finding_id)"),
)
