-- Submitted batches with the file's own figures at submit time. Tables written before the tap
-- recorded them lack those columns: they read as null (column_or_null), and the reconciliation
-- then falls back to DATEV's count.
{%- set batches = source('datev', 'booking_batches') %}
select
    batch_id,
    client_id,
    kind,
    file_name,
    status,
    result as job_result,
    job_id,
    number_of_accounting_records as datev_line_count,
    validation_code,
    {{ json_text('validation_details', '$.title') }} as validation_title,
    {{ json_text('validation_details', '$.detail') }} as validation_detail,
    error,
    created_at as submitted_at,
    final_at,
    {{ column_or_null(batches, 'file_line_count', 'bigint') }} as file_line_count,
    {{ column_or_null(batches, 'file_debit_sum', 'decimal(18,2)') }} as file_debit_sum,
    {{ column_or_null(batches, 'file_credit_sum', 'decimal(18,2)') }} as file_credit_sum,
    {{ column_or_null(batches, 'posting_digest', dbt.type_string()) }} as posting_digest
from {{ batches }}
where _sdc_deleted_at is null
