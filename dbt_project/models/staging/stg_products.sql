select
    product_id,
    name as product_name,
    category,
    price,
    updated_at
from {{ source('shop_pg', 'products') }}
