-- The legal entities: chart of accounts, GL account length and the month their fiscal year starts.
select
    id as client_id,
    name as entity_name,
    datev_chart_of_accounts as chart_of_accounts,
    account_length,
    cast(extract(month from cast({{ json_text('fiscal_years', '$[0].fiscal_year_start') }} as date)) as int)
        as fiscal_year_start_month
from {{ source('datev', 'clients') }}
where _sdc_deleted_at is null
