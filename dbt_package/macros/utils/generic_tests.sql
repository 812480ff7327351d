{#- Generic tests run in the warehouse by `dbt build`; each returns the offending rows. Arguments follow
    dbt-utils: `compare_model` is the real table the twin is compared with. Every test is one aggregate
    pass over each table (linear in rows), and every macro dispatches (`dp_synth` namespace), so an
    adapter can get its own implementation or a project can override one. -#}

{% macro columns_of(relation) -%}
  {{ return(adapter.dispatch('columns_of', 'dp_synth')(relation)) }}
{%- endmacro %}

{% macro default__columns_of(relation) -%}
  {{ return(adapter.get_columns_in_relation(relation)) }}
{%- endmacro %}

{% macro is_numeric(column) -%}
  {{ return(adapter.dispatch('is_numeric', 'dp_synth')(column)) }}
{%- endmacro %}

{% macro default__is_numeric(column) -%}
  {#- numbers of every width (DECIMAL, HUGEINT, unsigned), dates, timestamps and times of day are binned, not categories -#}
  {%- set t = column.dtype | lower -%}
  {%- set base = t.split('(')[0] | trim -%}
  {{ return(column.is_numeric() or column.is_float() or column.is_integer()
            or base in ['decimal', 'numeric', 'hugeint', 'uhugeint', 'ubigint', 'uinteger', 'usmallint', 'utinyint',
                        'bigint', 'integer', 'int', 'smallint', 'tinyint', 'double', 'float', 'real', 'date']
            or base.startswith('time')) }}
{%- endmacro %}

{% macro learned_columns(model) -%}
  {{ return(adapter.dispatch('learned_columns', 'dp_synth')(model)) }}
{%- endmacro %}

{% macro default__learned_columns(model) -%}
  {#- columns the generator learned, from the twin's newest ledger row; all columns if unknown -#}
  {%- set names = [] -%}
  {%- if execute and dp_synth.ledger_exists() -%}
    {%- set q -%}
      select columns_learned from {{ dp_synth.ledger_relation() }}
      where lower(twin_schema) = lower({{ dp_synth.string_literal(model.schema) }})
        and lower(twin_table) = lower({{ dp_synth.string_literal(model.identifier) }})
      order by created_at desc limit 1
    {%- endset -%}
    {%- set found = run_query(q) -%}
    {%- if found and found.rows | length > 0 -%}
      {%- set names = fromjson(found.rows[0][0]) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if names | length == 0 -%}
    {%- for c in dp_synth.columns_of(model) -%}{%- do names.append(c.name) -%}{%- endfor -%}
  {%- endif -%}
  {{ return(names) }}
{%- endmacro %}

{% macro ledger_exists() -%}
  {{ return(adapter.dispatch('ledger_exists', 'dp_synth')()) }}
{%- endmacro %}

{% macro default__ledger_exists() -%}
  {#- not adapter.get_relation: dbt's relation cache predates the ledger the Python side created -#}
  {%- set found = run_query("select count(*) from information_schema.tables where lower(table_schema) = lower("
                             ~ dp_synth.string_literal(dp_synth.ledger_schema()) ~ ") and table_name = 'dp_synth_ledger'") -%}
  {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro spark__ledger_exists() -%}
  {%- set found = run_query("show tables in " ~ adapter.quote(dp_synth.ledger_schema()) ~ " like 'dp_synth_ledger'") -%}
  {{ return(found and found.rows | length > 0) }}
{%- endmacro %}

{% macro string_literal(text) -%}
  {{ return(adapter.dispatch('string_literal', 'dp_synth')(text)) }}
{%- endmacro %}

{% macro default__string_literal(text) -%}
  {{ return("'" ~ (text | string | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{% macro spark__string_literal(text) -%}
  {#- Spark SQL string literals escape with backslashes -#}
  {{ return("'" ~ (text | string | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'") }}
{%- endmacro %}


{% test dp_synth_no_real_rows(model, compare_model, columns=none, threshold=0) %}
  {{ return(adapter.dispatch('test_dp_synth_no_real_rows', 'dp_synth')(model, compare_model, columns, threshold)) }}
{% endtest %}

{% macro default__test_dp_synth_no_real_rows(model, compare_model, columns, threshold) %}
{#- twin rows equal to a real row on every learned column (a hash join); threshold: a count, or a share if < 1 -#}
{%- set cols = columns if columns else dp_synth.learned_columns(model) -%}
with copies as (
  select count(*) as copied_rows from {{ model }} as t
  where exists (select 1 from {{ compare_model }} as s where
  {% for c in cols %}t.{{ adapter.quote(c) }} is not distinct from s.{{ adapter.quote(c) }}{% if not loop.last %} and {% endif %}{% endfor %})
), total as (select count(*) as twin_rows from {{ model }})
select copied_rows, twin_rows from copies, total
where copied_rows > {% if threshold < 1 and threshold > 0 %}{{ threshold }} * twin_rows{% else %}{{ threshold }}{% endif %}
{% endmacro %}


{% macro fidelity_columns(model, compare_model, columns) -%}
  {#- (columns to compare, {column: is numeric}) for the fidelity test -#}
  {%- set numeric = {} -%}
  {%- for c in dp_synth.columns_of(compare_model) -%}{%- do numeric.update({c.name: dp_synth.is_numeric(c)}) -%}{%- endfor -%}
  {{ return((columns if columns else dp_synth.learned_columns(model), numeric)) }}
{%- endmacro %}

{% test dp_synth_marginal_fidelity(model, compare_model, columns=none, threshold=0.15, bins=10) %}
  {{ return(adapter.dispatch('test_dp_synth_marginal_fidelity', 'dp_synth')(model, compare_model, columns, threshold, bins)) }}
{% endtest %}

{% macro duckdb__test_dp_synth_marginal_fidelity(model, compare_model, columns, threshold, bins) %}
{#- per-column total-variation distance; numeric columns in `bins` quantile bins of the real table.
    One aggregate row of edges per column (never one row per source row): linear in rows. -#}
{%- set cols, numeric = dp_synth.fidelity_columns(model, compare_model, columns) -%}
{%- if cols | length == 0 -%}
select 'twin ' || '{{ model | replace("'", "''") }}' || ' not built or has no columns' as column_name, 1.0 as tvd
{%- else -%}
{%- set qs = [] -%}{%- for i in range(1, bins) -%}{%- do qs.append(i / bins) -%}{%- endfor -%}
{% for c in cols %}
{%- set col = adapter.quote(c) -%}
{%- if numeric.get(c) -%}
  {%- set key -%}case when v is null then 'NULL' else cast(len(list_filter(e, lambda x: x <= v)) as varchar) end{%- endset -%}
{%- else -%}
  {%- set key -%}coalesce(cast(v as varchar), 'NULL'){%- endset -%}
{%- endif %}
select '{{ c | replace("'", "''") }}' as column_name, tvd from (
  with edges as ({% if numeric.get(c) %}select quantile_disc({{ col }}, {{ qs }}) as e from {{ compare_model }}{% else %}select null as e{% endif %}),
  s as (select {{ key }} as k, count(*) / sum(count(*)) over () as p from (select {{ col }} as v from {{ compare_model }}) cross join edges group by 1),
  t as (select {{ key }} as k, count(*) / sum(count(*)) over () as q from (select {{ col }} as v from {{ model }}) cross join edges group by 1)
  select 0.5 * sum(abs(coalesce(p, 0) - coalesce(q, 0))) as tvd from s full outer join t using (k)
) where tvd > {{ threshold }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
{%- endif %}
{% endmacro %}

{% macro default__test_dp_synth_marginal_fidelity(model, compare_model, columns, threshold, bins) %}
{#- portable SQL: numeric columns in `bins` equal-width bins over the real table's range -#}
{%- set cols, numeric = dp_synth.fidelity_columns(model, compare_model, columns) -%}
{%- if cols | length == 0 -%}
select 'twin ' || '{{ model | replace("'", "''") }}' || ' not built or has no columns' as column_name, 1.0 as tvd
{%- else -%}
{% for c in cols %}
{%- set col = adapter.quote(c) -%}
select '{{ c | replace("'", "''") }}' as column_name, tvd from (
  with r as (select min({{ col }}) as lo, max({{ col }}) as hi from {{ compare_model }}),
  s as (select {% if numeric.get(c) %}case when v is null then -1 when hi = lo then 0 else floor((v - lo) * 1.0 / (hi - lo) * {{ bins }}) end{% else %}coalesce(cast(v as {{ dbt.type_string() }}), 'NULL'){% endif %} as k,
               count(*) * 1.0 / sum(count(*)) over () as p from (select {{ col }} as v from {{ compare_model }}) x cross join r group by 1),
  t as (select {% if numeric.get(c) %}case when v is null then -1 when hi = lo then 0 else floor((least(greatest(v, lo), hi) - lo) * 1.0 / (hi - lo) * {{ bins }}) end{% else %}coalesce(cast(v as {{ dbt.type_string() }}), 'NULL'){% endif %} as k,
               count(*) * 1.0 / sum(count(*)) over () as q from (select {{ col }} as v from {{ model }}) y cross join r group by 1)
  select 0.5 * sum(abs(coalesce(p, 0) - coalesce(q, 0))) as tvd from s full outer join t on s.k = t.k
) z where tvd > {{ threshold }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
{%- endif %}
{% endmacro %}


{% test dp_synth_schema_matches(model, compare_model) %}
  {{ return(adapter.dispatch('test_dp_synth_schema_matches', 'dp_synth')(model, compare_model)) }}
{% endtest %}

{% macro schema_problems(model, compare_model) -%}
  {#- (position, source column, source type, twin column, twin type) wherever the two differ -#}
  {%- set a = dp_synth.columns_of(compare_model) -%}
  {%- set b = dp_synth.columns_of(model) -%}
  {%- set problems = [] -%}
  {%- for i in range([a | length, b | length] | max) -%}
    {%- set x = a[i] if i < a | length else none -%}
    {%- set y = b[i] if i < b | length else none -%}
    {%- if x is none or y is none or x.name != y.name or x.dtype | lower != y.dtype | lower -%}
      {%- do problems.append((i + 1, x.name if x else 'missing', x.dtype if x else '', y.name if y else 'missing', y.dtype if y else '')) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(problems) }}
{%- endmacro %}

{% macro default__test_dp_synth_schema_matches(model, compare_model) %}
{#- same column names, order and types as the real table -#}
{%- set problems = dp_synth.schema_problems(model, compare_model) -%}
select * from (values (0, '', '', '', '')
{%- for p in problems %}, ({{ p[0] }}, '{{ p[1] | replace("'", "''") }}', '{{ p[2] }}', '{{ p[3] | replace("'", "''") }}', '{{ p[4] }}'){% endfor %}
) as v(position, source_column, source_type, twin_column, twin_type) where position > 0
{% endmacro %}


{% test dp_synth_within_budget(model, cap=none) %}
  {{ return(adapter.dispatch('test_dp_synth_within_budget', 'dp_synth')(model, cap)) }}
{% endtest %}

{% macro default__test_dp_synth_within_budget(model, cap) %}
{#- total ε charged (basic composition) to the twin's source is within the cap -#}
{%- set cap = cap if cap is not none else var('dp_synth_budget_cap', none) -%}
{%- if cap is none -%}
  {{ exceptions.raise_compiler_error("dp_synth_within_budget on " ~ model ~ ": give arguments: {cap: ...} or set var dp_synth_budget_cap") }}
{%- endif -%}
with src as (
  select distinct lower(source_schema) as s, lower(source_table) as t from {{ dp_synth.ledger_relation() }}
  where lower(twin_schema) = lower('{{ model.schema | replace("'", "''") }}') and lower(twin_table) = lower('{{ model.identifier | replace("'", "''") }}')
)
select l.source, sum(l.epsilon) as epsilon_spent, {{ cap }} as cap
from {{ dp_synth.ledger_relation() }} l join src on lower(l.source_schema) = src.s and lower(l.source_table) = src.t
group by 1 having sum(l.epsilon) > {{ cap }}
{% endmacro %}


{#- Spark (dbt-spark, dbt-databricks): no information_schema in the session catalog; inline tables are
    `values … as v(cols)` without parentheses. -#}

{% macro spark__test_dp_synth_schema_matches(model, compare_model) %}
{%- set problems = dp_synth.schema_problems(model, compare_model) -%}
select * from values (0, '', '', '', '')
{%- for p in problems %}, ({{ p[0] }}, {{ dp_synth.string_literal(p[1]) }}, '{{ p[2] }}', {{ dp_synth.string_literal(p[3]) }}, '{{ p[4] }}'){% endfor %}
 as v(position, source_column, source_type, twin_column, twin_type) where position > 0
{% endmacro %}
