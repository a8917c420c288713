select
    order_id,
    customer_id,
    ordered_at,
    cast(ordered_at as date) as order_date,
    status,
    cast(amount as decimal(12, 2)) as amount,
    currency
from {{ source('orders', 'orders') }}
