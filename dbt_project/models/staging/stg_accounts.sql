select
    account_id,
    name as account_name,
    industry,
    cast(created_at as timestamp) as created_at
from {{ source('crm', 'accounts') }}
