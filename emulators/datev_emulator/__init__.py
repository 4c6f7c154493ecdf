"""A local emulator of the DATEV APIs (OIDC login and accounting APIs) for the demo and tests.

It rejects what DATEV rejects: PKCE S256 only, state/nonce >= 20 characters, client authentication per
registration, single-use rotating refresh tokens (reuse ends the whole session), 11 h session without
offline_access, X-DATEV-Client-Id on every call, scopes and booked data services per client.

Start it in-process with ``datev_emulator.server.start(data_dir)`` (returns ``RunningEmulator`` with
``.url``, ``.stop()``, ``.control``; a context manager) or as ``datev-emulator serve --port 0 --data DIR``.
State (tokens, grants, jobs, uploads, signing key, clock offset) lives in the data directory and survives
restarts; an empty directory is seeded with consultant 29098 (clients 55003-55005 of the Lindner group;
55005 lacks Rechnungsdatenservice 1.0 and the Datenservice Export Rechnungswesen, 55004's fiscal year
starts 1 July; the ledger of 55003 and 55004 holds the advisor's own bookings besides accepted EXTF
batches). Paging over more than 100 clients needs more: ``start(..., filler_clients=N)`` /
``serve --filler-clients N`` seed N plain clients of consultant 29099 into a new directory;
``control.add_clients`` adds them to any.

URL layout (one base URL, a path prefix per DATEV host)::

    /openid/.well-known/openid-configuration   discovery (issuer {url}/openid)
    /openid/authorize  /token  /revoke  /userinfo  /certs  /endsession
    /accounting-clients/platform/v2/...        accounting-clients 2.0
    /accounting-documents/platform/v2/...      accounting:documents 2.1.12
    /accounting-extf-files/platform/v3/...     accounting:extf-files 3.0.1
    /accounting-dxso-jobs/platform/v2/...      accounting:dxso-jobs 2.1.7
    /accounting-data-exchange/platform/v1/...  Accounting Data Exchange 1.5.8 (see README.md)

Registered OAuth clients: ``ml-connector-demo`` (public, auth ``none``) and ``ml-connector-confidential``
(``client_secret_basic``, secret ``emulator-secret-not-for-production``). Redirect URIs: any loopback
``http://127.0.0.1:<port>/...`` or ``http://localhost:<port>/...``, or ``https://connector.example.com/datev/callback``.

Control API (emulator only, not DATEV's; JSON bodies; also in-process on ``RunningEmulator.control``)::

    GET  /_emulator/clock                      {"now": epoch, "offset_seconds": S, "warning": ...}
    POST /_emulator/clock                      {"advance_seconds": N} or {"now": epoch}; "warning" (and a
                                               WARNING log line) when the offset exceeds the 120 s of
                                               skew a client on real time allows in token times
    GET  /_emulator/faults                     armed faults
    POST /_emulator/faults                     {"kind": "status"|"drop", "status": 429|503|500, "count": N,
                                                "retry_after": S, "method": "GET", "path_prefix": "/token"}
                                               "status": the next N matching requests get that status with
                                               Retry-After: S ("retry_after" absent: 1 s on 429/503, none
                                               on 500; "retry_after": null: no Retry-After header);
                                               "drop": the next N matching requests are processed, then the
                                               connection is closed without an answer
    DELETE /_emulator/faults                   disarm all
    POST /_emulator/oauth-clients              {"client_id", "token_endpoint_auth_method":
                                                "none"|"client_secret_basic", "client_secret",
                                                "redirect_uris": [...]}
    POST /_emulator/clients                    {"count": N, "consultant_number": 29100} adds N DATEV clients
    GET/POST /_emulator/consent                {"mode": "allow"|"deny"} (deny: authorize -> access_denied)
    GET/POST /_emulator/settings               {"extf_delay_seconds": 5, "dxso_delay_seconds": 5,
                                                "ade_delay_seconds": 5, "ade_failing_jobs": N}
    POST /_emulator/advisor-postings           {"client_id", "fiscal_year": 20260101} lists the advisor's
                                               sequences; + {"posting_id", "changes": {...}} or
                                               {"posting_id", "delete": true} edits an uncommitted one;
                                               + {"generate": N, "committed": false} adds N postings
    GET  /_emulator/requests                   requests received per endpoint name since start (control
                                               API not counted; "unmatched", "fault"); DELETE: zero them
    GET  /_emulator/health

Jobs progress on the emulator clock: an EXTF job is ``pending`` until ``extf_delay_seconds`` have passed,
a finalized DXSO job is ``1`` (processing) until ``dxso_delay_seconds`` have passed, an account-postings
job is ``PENDING`` until ``ade_delay_seconds`` have passed and ``DELETED`` 12 hours after it was created.
"""
