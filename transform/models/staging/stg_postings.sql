-- The ledger the marts read, each posting seen from both of its accounts: the Konto side carries
-- account_amount_eur, the Gegenkonto side its negation; debits are positive on either side.
-- Per client: DATEV's booked postings (account_postings, Accounting Data Exchange) when the client has
-- any, because the advisor's bookings are the books; else the submitted lines DATEV accepted.
-- ledger_source says which. Opening balances (EB-Werte) are not movements of the year: left out.
with booked as (
    select * from {{ ref('stg_account_postings') }}
),

booked_clients as (
    select distinct client_id from booked
),

lines as (
    select
        l.client_id,
        'submitted' as ledger_source,
        l.batch_id,
        l.line_number,
        cast(null as bigint) as accounting_sequence_id,
        cast(null as {{ dbt.type_string() }}) as posting_id,
        l.booking_date,
        cast(l.konto as bigint) as account,
        cast(l.gegenkonto as bigint) as other_account,
        l.tax_key,
        cast(l.stated_vat_rate as decimal(5,2)) as stated_vat_rate,
        l.cost_centre,
        l.is_general_reversal,
        l.document_number,
        l.booking_text,
        l.account_amount_eur,
        l.contra_account_amount_eur
    from {{ ref('stg_booking_lines') }} as l
    left join booked_clients as b on l.client_id = b.client_id
    where l.job_result = 'succeeded' and b.client_id is null
    union all
    select
        client_id,
        'booked' as ledger_source,
        cast(null as {{ dbt.type_string() }}) as batch_id,
        cast(null as bigint) as line_number,
        accounting_sequence_id,
        posting_id,
        booking_date,
        account_number as account,
        contra_account_number as other_account,
        tax_key,
        stated_vat_rate,
        cost_centre,
        is_general_reversal,
        document_number,
        booking_text,
        account_amount_eur,
        contra_account_amount_eur
    from booked
    where not is_opening_balance_posting
)

select
    client_id, ledger_source, batch_id, line_number, accounting_sequence_id, posting_id, booking_date,
    tax_key, stated_vat_rate, cost_centre, is_general_reversal, document_number, booking_text,
    'konto' as side,
    account,
    other_account,
    account_amount_eur as amount_eur
from lines
union all
select
    client_id, ledger_source, batch_id, line_number, accounting_sequence_id, posting_id, booking_date,
    tax_key, stated_vat_rate, cost_centre, is_general_reversal, document_number, booking_text,
    'gegenkonto' as side,
    other_account as account,
    account as other_account,
    contra_account_amount_eur as amount_eur
from lines
