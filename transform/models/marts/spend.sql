-- Spend per entity × fiscal month × GL account × cost centre (KOST1) × supplier, in EUR net of VAT.
-- Expense accounts: debits positive, credits (refunds, reversals) negative. ledger_source: 'booked'
-- (DATEV's booked postings, Accounting Data Exchange) or 'submitted' (the batches the company sent).
with lines as (
    select * from {{ ref('spend_lines') }}
),

labels as (
    select client_id, account_number, max(label) as account_label
    from {{ source('datev', 'gl_accounts') }}
    where _sdc_deleted_at is null
    group by client_id, account_number
),

partners as (
    select client_id, account_number, name
    from {{ source('datev', 'business_partners') }}
    where _sdc_deleted_at is null
),

grouped as (
    select
        client_id,
        entity_name,
        ledger_source,
        chart_of_accounts,
        fiscal_year,
        fiscal_period,
        booking_month,
        account_class,
        class_caption_de,
        class_caption_en,
        account_number,
        cost_centre,
        partner_account,
        sum(net_eur) as spend_eur,
        sum(vat_eur) as vat_eur,
        sum(gross_eur) as gross_eur,
        count(*) as postings,
        sum(case when vat_rate_known then 0 else 1 end) as postings_vat_unknown
    from lines
    group by
        client_id, entity_name, ledger_source, chart_of_accounts, fiscal_year, fiscal_period, booking_month,
        account_class, class_caption_de, class_caption_en, account_number, cost_centre, partner_account
)

select
    {{ dbt.concat([
        'g.client_id', "'|'",
        dbt.cast('g.booking_month', dbt.type_string()), "'|'",
        dbt.cast('g.account_number', dbt.type_string()), "'|'",
        "coalesce(g.cost_centre, '')", "'|'",
        "coalesce(" ~ dbt.cast('g.partner_account', dbt.type_string()) ~ ", '')",
    ]) }} as spend_key,
    g.client_id,
    g.entity_name,
    g.ledger_source,
    g.chart_of_accounts,
    g.fiscal_year,
    g.fiscal_period,
    g.booking_month,
    g.account_class,
    g.class_caption_de,
    g.class_caption_en,
    g.account_number,
    l.account_label,
    g.cost_centre,
    g.partner_account as supplier_account,
    p.name as supplier_name,
    g.spend_eur,
    g.vat_eur,
    g.gross_eur,
    g.postings,
    g.postings_vat_unknown > 0 as has_unknown_vat_rate
from grouped as g
left join labels as l on g.client_id = l.client_id and g.account_number = l.account_number
left join partners as p on g.client_id = p.client_id and g.partner_account = p.account_number
