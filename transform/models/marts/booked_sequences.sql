-- Every accounting sequence booked in DATEV (Accounting Data Exchange) with its postings and sums,
-- and the submitted batch it came from, if any: origin 'submitted' (an imported batch) or 'advisor'
-- (booked in DATEV directly: payroll, depreciation, closing entries). Sums are of the amount in the
-- posting's currency over its S resp. H postings, as batch_reconciliation sums the file.
with sequences as (
    select * from {{ ref('stg_accounting_sequences') }}
),

postings as (
    select
        client_id,
        fiscal_year,
        accounting_sequence_id,
        count(*) as booked_line_count,
        sum(case when debit_credit = 'S' then amount else 0 end) as booked_debit_sum,
        sum(case when debit_credit = 'H' then amount else 0 end) as booked_credit_sum
    from {{ ref('stg_account_postings') }}
    group by client_id, fiscal_year, accounting_sequence_id
),

batches as (
    select m.client_id, m.fiscal_year, m.accounting_sequence_id, min(b.batch_id) as batch_id,
        min(b.file_name) as file_name, count(*) as batches
    from {{ ref('stg_batch_sequences') }} as m
    inner join {{ ref('stg_booking_batches') }} as b on m.batch_id = b.batch_id
    group by m.client_id, m.fiscal_year, m.accounting_sequence_id
)

select
    {{ dbt.concat([
        's.client_id', "'|'", dbt.cast('s.fiscal_year', dbt.type_string()), "'|'",
        dbt.cast('s.accounting_sequence_id', dbt.type_string()),
    ]) }} as sequence_key,
    s.client_id,
    c.entity_name,
    s.fiscal_year,
    s.accounting_sequence_id,
    s.description,
    s.date_from,
    s.date_to,
    s.mark_of_origin,
    s.record_type,
    s.is_committed,
    case when b.batch_id is null then 'advisor' else 'submitted' end as origin,
    b.batch_id,
    b.file_name,
    coalesce(p.booked_line_count, 0) as booked_line_count,
    cast(coalesce(p.booked_debit_sum, 0) as decimal(18,2)) as booked_debit_sum,
    cast(coalesce(p.booked_credit_sum, 0) as decimal(18,2)) as booked_credit_sum
from sequences as s
left join postings as p
    on s.client_id = p.client_id
    and s.fiscal_year = p.fiscal_year
    and s.accounting_sequence_id = p.accounting_sequence_id
left join batches as b
    on s.client_id = b.client_id
    and s.fiscal_year = b.fiscal_year
    and s.accounting_sequence_id = b.accounting_sequence_id
left join {{ ref('stg_clients') }} as c on s.client_id = c.client_id
