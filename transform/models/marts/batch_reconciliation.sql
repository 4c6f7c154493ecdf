-- Per submitted batch: what the file held at submit time (recorded by the tap), what landed in
-- booking_lines, and what DATEV counted; status ok / mismatch / pending / rejected with the reason.
-- Sums are of Umsatz as in the file (unsigned, file currencies) over its S resp. H lines.
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
from judged
