-- Each accepted booking line seen from both of its accounts: the Konto side carries
-- account_amount_eur, the Gegenkonto side its negation. Debits are positive on either side.
with lines as (
    select * from {{ ref('stg_booking_lines') }}
    where job_result = 'succeeded'
)

select
    client_id, batch_id, line_number, booking_date, tax_key, stated_vat_rate, cost_centre, is_general_reversal,
    document_number, booking_text,
    'konto' as side,
    konto as account,
    gegenkonto as other_account,
    account_amount_eur as amount_eur
from lines
union all
select
    client_id, batch_id, line_number, booking_date, tax_key, stated_vat_rate, cost_centre, is_general_reversal,
    document_number, booking_text,
    'gegenkonto' as side,
    gegenkonto as account,
    konto as other_account,
    contra_account_amount_eur as amount_eur
from lines
