-- Spend per entity and fiscal month (what a chart shows), in EUR net of VAT.
select
    {{ dbt.concat(['client_id', "'|'", dbt.cast('booking_month', dbt.type_string())]) }} as entity_month_key,
    client_id,
    entity_name,
    ledger_source,
    fiscal_year,
    fiscal_period,
    booking_month,
    sum(spend_eur) as spend_eur,
    sum(vat_eur) as vat_eur,
    sum(gross_eur) as gross_eur,
    sum(postings) as postings,
    sum(case when has_unknown_vat_rate then 1 else 0 end) > 0 as has_unknown_vat_rate
from {{ ref('spend') }}
group by client_id, entity_name, ledger_source, fiscal_year, fiscal_period, booking_month
