-- sum() of integers is HUGEINT in DuckDB, sum() of DECIMAL(10,2) is DECIMAL(38,2): the twin keeps both
select c.customer_id, c.customer_name, c.city, c.signup_date,
       count(o.order_id) as count_lifetime_orders,
       sum(o.quantity) as lifetime_items,
       coalesce(sum(o.order_total), 0) as lifetime_spend
from {{ ref('stg_customers') }} c left join {{ ref('orders') }} o using (customer_id)
group by all
