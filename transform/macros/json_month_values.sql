{#- One row per element of sums_and_balances.sums_and_balances_month_values (JSON text as landed):
    client_id, fiscal_year, account_number, caption, fiscal_month, monthly_balance (text), debit_credit.
    dbt's cross-database macros have no JSON array unnesting. -#}
{% macro json_month_values(relation) %}
  {{ return(adapter.dispatch('json_month_values', 'ml_connector')(relation)) }}
{% endmacro %}

{% macro default__json_month_values(relation) %}
select client_id, fiscal_year, account_number, caption,
    m.fiscal_year_month as fiscal_month,
    m.monthly_balance,
    m.monthly_balance_debit_credit_identifier as debit_credit
from {{ relation }}
lateral view explode(from_json(
    sums_and_balances_month_values,
    'array<struct<fiscal_year_month:int,monthly_balance:string,monthly_balance_debit_credit_identifier:string>>'
)) month_values as m
where _sdc_deleted_at is null
{% endmacro %}

{% macro duckdb__json_month_values(relation) %}
select client_id, fiscal_year, account_number, caption,
    m.fiscal_year_month as fiscal_month,
    m.monthly_balance,
    m.monthly_balance_debit_credit_identifier as debit_credit
from (
    select client_id, fiscal_year, account_number, caption,
        unnest(from_json(
            sums_and_balances_month_values,
            '[{"fiscal_year_month":"INTEGER","monthly_balance":"VARCHAR","monthly_balance_debit_credit_identifier":"VARCHAR"}]'
        )) as m
    from {{ relation }}
    where _sdc_deleted_at is null
) as month_values
{% endmacro %}
