"""A local emulator of the DATEV APIs (OIDC login and accounting APIs) for the demo and tests."""
