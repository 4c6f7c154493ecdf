-- One row per posting on a spend account: the net amount and VAT in EUR. The postings are DATEV's
-- booked ones or the submitted lines DATEV accepted, per client (stg_postings; ledger_source says which).
-- Booking amounts are gross (DATEV splits VAT off inside DATEV); the rate comes from the tax key
-- when the line has one, else from the rate the line states (DXSO `tax`, EXTF Steuersatz), else
-- from the automatic account, else there is no VAT. A tax key the seed does not know leaves the
-- amount gross, flagged (vat_rate_known = false).
with postings as (
    select * from {{ ref('stg_postings') }}
),

clients as (
    select * from {{ ref('stg_clients') }}
),

located as (
    select
        p.*,
        c.entity_name,
        c.chart_of_accounts,
        c.account_length,
        c.fiscal_year_start_month,
        r.account_class,
        r.class_caption_de,
        r.class_caption_en,
        case
            when p.tax_key is not null then k.vat_rate
            else coalesce(p.stated_vat_rate, a.vat_rate, 0)
        end as vat_rate
    from postings as p
    inner join clients as c on p.client_id = c.client_id
    inner join {{ ref('spend_accounts') }} as r
        on r.chart_of_accounts = c.chart_of_accounts
        and p.account between r.account_from and r.account_to
    left join {{ ref('automatic_accounts') }} as a
        on a.chart_of_accounts = c.chart_of_accounts
        and p.account between a.account_from and a.account_to
    left join {{ ref('tax_keys') }} as k on p.tax_key = k.tax_key
    -- GL accounts have the client's account length; longer numbers are personal accounts.
    where p.account < power(10, c.account_length)
),

netted as (
    select
        *,
        case
            when vat_rate is null then amount_eur
            else cast(round(amount_eur * 100 / (100 + vat_rate), 2) as decimal(18,2))
        end as net_eur
    from located
)

select
    client_id,
    entity_name,
    chart_of_accounts,
    ledger_source,
    batch_id,
    line_number,
    accounting_sequence_id,
    posting_id,
    side,
    booking_date,
    cast({{ dbt.date_trunc('month', 'booking_date') }} as date) as booking_month,
    cast(extract(year from booking_date) as int)
        - case when extract(month from booking_date) < fiscal_year_start_month then 1 else 0 end
        as fiscal_year,
    cast(mod(cast(extract(month from booking_date) as int) - fiscal_year_start_month + 12, 12) + 1 as int)
        as fiscal_period,
    account_class,
    class_caption_de,
    class_caption_en,
    account as account_number,
    case when other_account >= power(10, account_length) then other_account end as partner_account,
    cost_centre,
    tax_key,
    vat_rate,
    vat_rate is not null as vat_rate_known,
    is_general_reversal,
    document_number,
    booking_text,
    amount_eur as gross_eur,
    net_eur,
    cast(amount_eur - net_eur as decimal(18,2)) as vat_eur
from netted
