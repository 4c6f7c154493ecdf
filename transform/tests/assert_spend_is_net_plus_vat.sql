-- Fails where net spend and VAT do not add up to the gross booking amount.
select spend_key
from {{ ref('spend') }}
where spend_eur + vat_eur <> gross_eur
