-- orders derived from the customer seed: jaffle_orders_per_customer per customer (10⁵ by default),
-- with values from a hash of (customer, n): deterministic, not copies
with c as (select * from {{ ref('stg_customers') }}),
n as (select range as k from range({{ var('jaffle_orders_per_customer') }}))
select
  c.customer_id * 1000 + n.k as order_id,
  c.customer_id,
  c.signup_date + cast(hash(c.customer_id, n.k, 'd') % 540 as integer) as ordered_at,
  case when hash(c.customer_id, n.k, 's') % 10 < 8 then 'completed' when hash(c.customer_id, n.k, 's') % 10 = 8
       then 'returned' else 'placed' end as status,
  'SKU-' || lpad(cast(hash(c.customer_id, n.k, 'p') % 8 as varchar), 3, '0') as sku,
  cast(1 + hash(c.customer_id, n.k, 'q') % 4 as integer) as quantity
from c cross join n
where hash(c.customer_id, n.k, 'keep') % 100 < 100
