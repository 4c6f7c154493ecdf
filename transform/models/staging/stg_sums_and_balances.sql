-- DATEV's movement per account and fiscal-year month (sumsAndBalancesMonthValues, a JSON array as
-- landed), signed like the postings: debit positive. Months without movement have no row.
{%- set sums = optional_source('datev', 'sums_and_balances') %}
with months as (
    {% if sums -%}
    {{ json_month_values(sums) }}
    {%- else -%}
    {{ select_or_empty(none, [
        ['', 'client_id', dbt.type_string()],
        ['', 'fiscal_year', 'bigint'],
        ['', 'account_number', 'bigint'],
        ['', 'caption', dbt.type_string()],
        ['', 'fiscal_month', 'int'],
        ['', 'monthly_balance', dbt.type_string()],
        ['', 'debit_credit', dbt.type_string()],
    ]) }}
    {%- endif %}
)

select
    client_id,
    fiscal_year,
    account_number,
    caption,
    fiscal_month,
    cast(
        case when debit_credit = 'H' then -1 else 1 end * cast(monthly_balance as decimal(18,2))
        as decimal(18,2)
    ) as datev_movement_eur
from months
