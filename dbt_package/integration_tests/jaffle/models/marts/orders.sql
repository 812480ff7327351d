select o.order_id, o.customer_id, o.ordered_at, o.status, p.type as product_type,
       cast(o.quantity * p.price as decimal(10, 2)) as order_total, o.quantity
from {{ ref('stg_orders') }} o join {{ ref('raw_products') }} p using (sku)
