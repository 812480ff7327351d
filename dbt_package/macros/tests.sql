{#- Generic tests run in the warehouse by `dbt build`. Each returns the offending rows. -#}

{% macro _cols(relation) -%}
  {{ return(adapter.get_columns_in_relation(relation)) }}
{%- endmacro %}

{% macro _learned_columns(model) -%}
  {#- columns the generator learned, from the twin's newest ledger row; all columns if unknown -#}
  {%- set names = [] -%}
  {%- if execute -%}
    {%- set q -%}
      select columns_learned from {{ dp_synth.ledger_relation() }}
      where twin_schema = '{{ model.schema | replace("'", "''") }}' and twin_table = '{{ model.identifier | replace("'", "''") }}'
      order by created_at desc limit 1
    {%- endset -%}
    {%- set found = run_query(q) -%}
    {%- if found and found.rows | length > 0 -%}
      {%- set names = fromjson(found.rows[0][0]) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if names | length == 0 -%}
    {%- for c in dp_synth._cols(model) -%}{%- do names.append(c.name) -%}{%- endfor -%}
  {%- endif -%}
  {{ return(names) }}
{%- endmacro %}


{% test dp_synth_no_real_rows(model, source, columns=none, threshold=0) %}
{#- twin rows equal to a real row on every learned column; threshold: a count, or a share if < 1 -#}
{%- set cols = columns if columns else dp_synth._learned_columns(model) -%}
with copies as (
  select count(*) as copied_rows from {{ model }} as t
  semi join {{ source }} as s on
  {% for c in cols %}t.{{ adapter.quote(c) }} is not distinct from s.{{ adapter.quote(c) }}{% if not loop.last %} and {% endif %}{% endfor %}
), total as (select count(*) as twin_rows from {{ model }})
select copied_rows, twin_rows from copies, total
where copied_rows > {% if threshold < 1 and threshold > 0 %}{{ threshold }} * twin_rows{% else %}{{ threshold }}{% endif %}
{% endtest %}


{% test dp_synth_marginal_fidelity(model, source, columns=none, threshold=0.15, bins=10) %}
{#- per-column total-variation distance; numeric columns in `bins` quantile bins of the source -#}
{%- set cols = columns if columns else dp_synth._learned_columns(model) -%}
{%- set numeric = {} -%}
{%- for c in dp_synth._cols(source) -%}
  {%- do numeric.update({c.name: (c.is_numeric() or c.is_float() or c.is_integer() or c.dtype | lower in ['date', 'timestamp'])}) -%}
{%- endfor -%}
{%- set qs = [] -%}{%- for i in range(1, bins) -%}{%- do qs.append(i / bins) -%}{%- endfor -%}
{% for c in cols %}
{%- set col = adapter.quote(c) -%}
{%- if numeric.get(c) -%}
  {%- set key -%}case when v is null then 'NULL' else cast(len(list_filter(e, lambda x: x <= v)) as varchar) end{%- endset -%}
{%- else -%}
  {%- set key -%}coalesce(cast(v as varchar), 'NULL'){%- endset -%}
{%- endif %}
select '{{ c | replace("'", "''") }}' as column_name, tvd from (
  with edges as (select {% if numeric.get(c) %}quantile_disc({{ col }}, {{ qs }}){% else %}null{% endif %} as e from {{ source }}),
  s as (select {{ key }} as k, count(*) / sum(count(*)) over () as p from (select {{ col }} as v from {{ source }}), edges group by 1),
  t as (select {{ key }} as k, count(*) / sum(count(*)) over () as q from (select {{ col }} as v from {{ model }}), edges group by 1)
  select 0.5 * sum(abs(coalesce(p, 0) - coalesce(q, 0))) as tvd from s full outer join t using (k)
) where tvd > {{ threshold }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% endtest %}


{% test dp_synth_schema_matches(model, source) %}
{#- same column names, order and types as the source -#}
{%- set a = dp_synth._cols(source) -%}
{%- set b = dp_synth._cols(model) -%}
{%- set problems = [] -%}
{%- for i in range([a | length, b | length] | max) -%}
  {%- set x = a[i] if i < a | length else none -%}
  {%- set y = b[i] if i < b | length else none -%}
  {%- if x is none or y is none or x.name != y.name or x.dtype | lower != y.dtype | lower -%}
    {%- do problems.append((i + 1, x.name if x else 'missing', x.dtype if x else '', y.name if y else 'missing', y.dtype if y else '')) -%}
  {%- endif -%}
{%- endfor -%}
select * from (values (0, '', '', '', '')
{%- for p in problems %}, ({{ p[0] }}, '{{ p[1] | replace("'", "''") }}', '{{ p[2] }}', '{{ p[3] | replace("'", "''") }}', '{{ p[4] }}'){% endfor %}
) as v(position, source_column, source_type, twin_column, twin_type) where position > 0
{% endtest %}


{% test dp_synth_within_budget(model, cap=none) %}
{#- total ε charged (basic composition) to the twin's source is within the cap -#}
{%- set cap = cap if cap is not none else var('dp_synth_budget_cap', none) -%}
{%- if cap is none -%}
  {{ exceptions.raise_compiler_error("dp_synth_within_budget on " ~ model ~ ": give arguments: {cap: ...} or set var dp_synth_budget_cap") }}
{%- endif -%}
with src as (
  select distinct source from {{ dp_synth.ledger_relation() }}
  where twin_schema = '{{ model.schema | replace("'", "''") }}' and twin_table = '{{ model.identifier | replace("'", "''") }}'
)
select l.source, sum(l.epsilon) as epsilon_spent, {{ cap }} as cap
from {{ dp_synth.ledger_relation() }} l join src using (source)
group by 1 having sum(l.epsilon) > {{ cap }}
{% endtest %}
