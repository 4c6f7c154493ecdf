-- Accounting sequences (Buchungsstapel) as DATEV holds them; no rows without ade_enabled.
{{ select_or_empty(optional_source('datev', 'accounting_sequences'), [
    ['client_id', 'client_id', dbt.type_string()],
    ['fiscal_year', 'fiscal_year', 'bigint'],
    ['accounting_sequence_id', 'accounting_sequence_id', 'bigint'],
    ['description', 'description', dbt.type_string()],
    ['date_from', 'date_from', 'date'],
    ['date_to', 'date_to', 'date'],
    ['mark_of_origin', 'mark_of_origin', dbt.type_string()],
    ['is_committed', 'is_committed', 'boolean'],
    ['record_type', 'record_type', dbt.type_string()],
], where='_sdc_deleted_at is null') }}
