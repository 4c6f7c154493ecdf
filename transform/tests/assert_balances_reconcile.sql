-- Warns (never fails the build) on every account and month whose booked postings and DATEV's sums and
-- balances differ: both are DATEV's, so a difference is a finding for the controller (README), and
-- balance_reconciliation shows it.
{{ config(severity='warn') }}
select client_id, fiscal_year, account_number, fiscal_month, difference_eur
from {{ ref('balance_reconciliation') }}
where balance_status = 'mismatch'
