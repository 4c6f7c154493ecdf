-- Fails on every batch whose file, loaded lines and DATEV's count disagree.
select batch_id, file_name, reason
from {{ ref('batch_reconciliation') }}
where reconciliation_status = 'mismatch'
