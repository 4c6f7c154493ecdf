-- Per submitted batch: what the file held at submit time (recorded by the tap), what landed in
-- booking_lines, and what DATEV counted; status ok / mismatch / pending / rejected with the reason.
-- Sums are of Umsatz as in the file (unsigned, file currencies) over its S resp. H lines.
-- Booked in DATEV (Accounting Data Exchange, where the client's booked ledger is read): the accounting
-- sequence the batch became (stg_batch_sequences), its postings and sums as DATEV holds them now, and
-- booked_status booked / differs / not booked / not imported / no booked ledger. A difference is a
-- finding (the advisor may change an uncommitted sequence), not a failed reconciliation.
with batches as (
    select * from {{ ref('stg_booking_batches') }}
),

loaded as (
    select
        batch_id,
        count(*) as loaded_line_count,
        sum(case when file_debit_credit = 'S' then file_amount else 0 end) as loaded_debit_sum,
        sum(case when file_debit_credit = 'H' then file_amount else 0 end) as loaded_credit_sum
    from {{ ref('stg_booking_lines') }}
    group by batch_id
),

compared as (
    select
        b.*,
        c.entity_name,
        coalesce(l.loaded_line_count, 0) as loaded_line_count,
        cast(coalesce(l.loaded_debit_sum, 0) as decimal(18,2)) as loaded_debit_sum,
        cast(coalesce(l.loaded_credit_sum, 0) as decimal(18,2)) as loaded_credit_sum
    from batches as b
    left join loaded as l on b.batch_id = l.batch_id
    left join {{ ref('stg_clients') }} as c on b.client_id = c.client_id
),

booked_clients as (
    select distinct client_id from {{ ref('stg_account_postings') }}
),

booked as (
    select
        m.batch_id, s.fiscal_year, s.accounting_sequence_id, s.is_committed, s.booked_line_count,
        s.booked_debit_sum, s.booked_credit_sum
    from {{ ref('stg_batch_sequences') }} as m
    inner join {{ ref('booked_sequences') }} as s
        on m.client_id = s.client_id
        and m.fiscal_year = s.fiscal_year
        and m.accounting_sequence_id = s.accounting_sequence_id
),

judged as (
    select
        *,
        case
            when status in ('failed', 'cancelled') or job_result in ('failed', 'not_processed', 'cancelled')
                then 'rejected'
            when status not in ('succeeded', 'partially_succeeded') then 'pending'
            when status = 'partially_succeeded' then 'mismatch'
            when file_line_count is not null and file_line_count <> loaded_line_count then 'mismatch'
            when file_debit_sum is not null and file_debit_sum <> loaded_debit_sum then 'mismatch'
            when file_credit_sum is not null and file_credit_sum <> loaded_credit_sum then 'mismatch'
            when datev_line_count is not null and datev_line_count <> loaded_line_count then 'mismatch'
            else 'ok'
        end as reconciliation_status
    from compared
),

with_booked as (
    select
        j.*,
        k.fiscal_year as booked_fiscal_year,
        k.accounting_sequence_id,
        k.is_committed as sequence_is_committed,
        k.booked_line_count,
        k.booked_debit_sum,
        k.booked_credit_sum,
        case
            when bc.client_id is null then 'no booked ledger'
            when j.reconciliation_status in ('rejected', 'pending') and k.batch_id is null then 'not imported'
            when k.batch_id is null then 'not booked'
            when k.booked_line_count <> j.loaded_line_count
                or k.booked_debit_sum <> j.loaded_debit_sum
                or k.booked_credit_sum <> j.loaded_credit_sum then 'differs'
            else 'booked'
        end as booked_status
    from judged as j
    left join booked as k on j.batch_id = k.batch_id
    left join booked_clients as bc on j.client_id = bc.client_id
)

select
    batch_id,
    client_id,
    entity_name,
    kind,
    file_name,
    submitted_at,
    job_id,
    status as submission_status,
    job_result,
    file_line_count,
    file_debit_sum,
    file_credit_sum,
    loaded_line_count,
    loaded_debit_sum,
    loaded_credit_sum,
    datev_line_count,
    reconciliation_status,
    booked_fiscal_year,
    accounting_sequence_id,
    sequence_is_committed,
    booked_line_count,
    booked_debit_sum,
    booked_credit_sum,
    booked_status,
    case booked_status
        when 'no booked ledger'
            then 'the booked ledger of the client is not read (ade_enabled, Datenservice Export Rechnungswesen)'
        when 'not imported' then 'DATEV did not import the batch'
        when 'not booked' then case
            when kind = 'dxso' then 'posting proposals of the Rechnungsdatenservice: booked once the advisor books them'
            else 'no accounting sequence in DATEV holds these lines'
        end
        when 'differs' then 'the accounting sequence in DATEV differs from the lines submitted (changed in DATEV)'
        else 'lines and sums as submitted'
    end as booked_reason,
    case reconciliation_status
        when 'rejected' then {{ dbt.concat([
            "'DATEV rejected the batch'",
            "coalesce(' (' || validation_code || ')', '')",
            "coalesce(': ' || validation_title, '')",
            "coalesce(' - ' || validation_detail, '')",
            "coalesce(': ' || error, '')",
        ]) }}
        when 'pending' then 'DATEV has not finished the import (submission ' || status || ')'
        when 'mismatch' then case
            when status = 'partially_succeeded' then 'DATEV imported only part of the batch'
            when file_line_count is not null and file_line_count <> loaded_line_count
                then 'lines in the file and in booking_lines differ'
            when file_debit_sum is not null and file_debit_sum <> loaded_debit_sum
                then 'debit sum of the file and of booking_lines differ'
            when file_credit_sum is not null and file_credit_sum <> loaded_credit_sum
                then 'credit sum of the file and of booking_lines differ'
            else 'DATEV counted other lines than booking_lines holds'
        end
        else case
            when file_line_count is null and datev_line_count is null
                then 'imported; neither file figures (submitted before the tap recorded them) nor a DATEV count to compare'
            when file_line_count is null
                then 'file figures not recorded at submit time; DATEV''s count matches booking_lines'
            when datev_line_count is null then 'file and booking_lines agree (DATEV gives no count)'
            else 'file, booking_lines and DATEV agree'
        end
    end as reason
from with_booked
