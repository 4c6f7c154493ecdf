-- Booking lines as landed (every batch, accepted or not); amounts are gross, as DATEV receives them.
select
    client_id,
    batch_id,
    line_number,
    job_result,
    booking_date,
    konto,
    gegenkonto,
    nullif(trim(bu_schluessel), '') as tax_key,
    steuersatz as stated_vat_rate,
    nullif(trim(kost1_kostenstelle), '') as cost_centre,
    soll_haben_kennzeichen as file_debit_credit,
    cast(umsatz as decimal(18,2)) as file_amount,
    cast(account_amount_eur as decimal(18,2)) as account_amount_eur,
    cast(contra_account_amount_eur as decimal(18,2)) as contra_account_amount_eur,
    is_general_reversal,
    belegfeld_1 as document_number,
    buchungstext as booking_text
from {{ source('datev', 'booking_lines') }}
where _sdc_deleted_at is null
