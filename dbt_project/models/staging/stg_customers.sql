select
    customer_id,
    name as customer_name,
    lower(email) as email,
    country,
    signed_up_on
from {{ source('customers', 'customers') }}
