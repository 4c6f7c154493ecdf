"""Encrypted credential store shared by tap-datev and target-databricks.

It knows nothing of DATEV or Databricks: it keeps named JSON documents, each encrypted with
Fernet (AES-128-CBC + HMAC-SHA256) under one key taken from an environment variable.
"""

from __future__ import annotations

from ml_credentials.store import (
    DEFAULT_KEY_ENV,
    CredentialStore,
    CredentialStoreError,
    generate_key,
)

__all__ = ["DEFAULT_KEY_ENV", "CredentialStore", "CredentialStoreError", "generate_key"]
