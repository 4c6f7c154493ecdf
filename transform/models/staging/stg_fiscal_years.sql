-- DATEV's fiscal years (booked ledger); fiscal_year is DATEV's id, the start date as YYYYMMDD.
{{ select_or_empty(optional_source('datev', 'fiscal_years'), [
    ['client_id', 'client_id', dbt.type_string()],
    ['fiscal_year', 'fiscal_year', 'bigint'],
    ['year_begin', 'year_begin', 'date'],
    ['year_end', 'year_end', 'date'],
], where='_sdc_deleted_at is null') }}
