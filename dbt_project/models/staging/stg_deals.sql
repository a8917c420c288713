select
    deal_id,
    account_id,
    stage,
    cast(amount as decimal(12, 2)) as amount,
    cast(updated_at as timestamp) as updated_at
from {{ source('crm', 'deals') }}
