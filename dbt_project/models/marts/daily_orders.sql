-- One row per day with orders: counts and revenue (returned orders excluded from revenue).
select
    order_date,
    count(*) as order_count,
    count(distinct customer_id) as customer_count,
    sum(case when status <> 'returned' then amount else 0 end) as revenue,
    sum(case when status = 'returned' then 1 else 0 end) as returned_count
from {{ ref('stg_orders') }}
group by order_date
