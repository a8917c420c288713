-- Revenue per customer; returned orders do not count as revenue.
with orders as (
    select * from {{ ref('stg_orders') }}
),

per_customer as (
    select
        customer_id,
        count(*) as order_count,
        sum(case when status <> 'returned' then amount else 0 end) as revenue,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
)

select
    c.customer_id,
    c.customer_name,
    c.country,
    coalesce(p.order_count, 0) as order_count,
    coalesce(p.revenue, 0) as revenue,
    p.first_ordered_at,
    p.last_ordered_at
from {{ ref('stg_customers') }} as c
left join per_customer as p on p.customer_id = c.customer_id
