-- Which booked accounting sequence (DATEV's Buchungsstapel, Accounting Data Exchange) each submitted
-- batch became: DATEV's sequence names neither the file nor the import job, so the sequence of the
-- batch's client that holds most of the batch's lines (same date, accounts, S/H, amount in the file's
-- currency and document number) is the one. Batches DATEV did not book have no row.
with lines as (
    select
        client_id, batch_id, booking_date, konto, gegenkonto, file_debit_credit,
        file_amount, coalesce(document_number, '') as document_number, count(*) as lines
    from {{ ref('stg_booking_lines') }}
    where job_result = 'succeeded'
    group by client_id, batch_id, booking_date, konto, gegenkonto, file_debit_credit, file_amount,
        coalesce(document_number, '')
),

postings as (
    select
        client_id, fiscal_year, accounting_sequence_id, booking_date, account_number, contra_account_number,
        debit_credit, amount, coalesce(document_number, '') as document_number, count(*) as postings
    from {{ ref('stg_account_postings') }}
    group by client_id, fiscal_year, accounting_sequence_id, booking_date, account_number,
        contra_account_number, debit_credit, amount, coalesce(document_number, '')
),

matched as (
    select
        l.batch_id,
        l.client_id,
        p.fiscal_year,
        p.accounting_sequence_id,
        sum(case when l.lines < p.postings then l.lines else p.postings end) as matched_lines
    from lines as l
    inner join postings as p
        on l.client_id = p.client_id
        and l.booking_date = p.booking_date
        and l.konto = p.account_number
        and l.gegenkonto = p.contra_account_number
        and l.file_debit_credit = p.debit_credit
        and l.file_amount = p.amount
        and l.document_number = p.document_number
    group by l.batch_id, l.client_id, p.fiscal_year, p.accounting_sequence_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by batch_id order by matched_lines desc, fiscal_year, accounting_sequence_id
        ) as preference
    from matched
)

select batch_id, client_id, fiscal_year, accounting_sequence_id, matched_lines
from ranked
where preference = 1
