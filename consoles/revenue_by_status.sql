-- Orders and revenue per status and currency (the demo's console: `headwater consoles run
-- revenue_by_status`). Read-only: one SELECT over the warehouse.
SELECT status,
       currency,
       count(*) AS orders,
       round(sum(amount), 2) AS revenue
FROM raw_orders.orders
GROUP BY ALL
ORDER BY ALL
