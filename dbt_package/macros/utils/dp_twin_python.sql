{#- The Python appended to a dp_twin model: dbt-duckdb calls materialize(df, con) with what model() returned. -#}

{% macro dp_twin_python(target_relation) -%}
  {{ return(adapter.dispatch('dp_twin_python', 'dp_synth')(target_relation)) }}
{%- endmacro %}

{#- The one call every adapter's Python ends with: session and frame names differ per adapter. -#}
{% macro dp_twin_publish_call(session, frame, target_relation) -%}
dp_synth.dbt.publish(
    {{ session }}, {{ frame }},
    schema={{ tojson(target_relation.schema) }},
    identifier={{ tojson(target_relation.identifier) }},
    meta=json.loads({{ tojson(tojson(config.get('meta', {}) or {})) }}),
    model={{ tojson(model.name) }},
    invocation_id={{ tojson(invocation_id) }},
    ledger_schema={{ tojson(dp_synth.ledger_schema()) }},
    upstream_caps=json.loads({{ tojson(tojson(dp_synth.declared_caps(model))) }}),
    var_caps=json.loads({{ tojson(tojson(var('dp_synth_budget_caps', {}))) }}),
)
{%- endmacro %}

{% macro default__dp_twin_python(target_relation) -%}
def materialize(df, con):
    import json
    import dp_synth.dbt

    {{ dp_synth.dp_twin_publish_call('con', 'df', target_relation) | indent(4) }}
{%- endmacro %}

{% macro declared_caps(model) -%}
  {{ return(adapter.dispatch('declared_caps', 'dp_synth')(model)) }}
{%- endmacro %}

{% macro default__declared_caps(model) -%}
  {#- budget caps declared on what this twin reads (model/source meta) and on sibling dp_twin models of
      the same upstream: the strictest applies to every twin of that source -#}
  {%- set caps = {} -%}
  {%- set upstream = model.depends_on.nodes if model.depends_on is defined else [] -%}
  {%- if execute -%}
    {%- for uid in upstream -%}
      {%- set node = graph.nodes.get(uid) or graph.sources.get(uid) -%}
      {%- if node -%}
        {%- set meta = (node.config.meta if node.config is defined and node.config.meta else {}) -%}
        {%- set meta = meta if meta else (node.meta if node.meta is defined and node.meta else {}) -%}
        {%- set cap = (meta.get('dp_synth') or {}).get('budget_cap', meta.get('dp_synth_budget_cap')) -%}
        {%- if cap is not none -%}{%- do caps.update({uid: cap}) -%}{%- endif -%}
      {%- endif -%}
      {%- for other in graph.nodes.values() -%}
        {%- if other.unique_id != model.unique_id and other.config.materialized == 'dp_twin'
              and uid in other.depends_on.nodes -%}
          {%- set meta = other.config.meta or {} -%}
          {%- set cap = (meta.get('dp_synth') or {}).get('budget_cap', meta.get('dp_synth_budget_cap')) -%}
          {%- if cap is not none -%}{%- do caps.update({other.unique_id: cap}) -%}{%- endif -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endif -%}
  {{ return(caps) }}
{%- endmacro %}

{#- dbt-spark / dbt-databricks: the model's code runs on the cluster with `spark` and `dbtObj` defined by the
    adapter's preamble; the twin is published by dp_synth (installed on the cluster) instead of saveAsTable. -#}
{% macro spark__dp_twin_python(target_relation) -%}
# --- dp_synth: the dp_twin materialization --- #
dbt = dbtObj(spark.table)
df = model(dbt, spark)

import json
import dp_synth.dbt

{{ dp_synth.dp_twin_publish_call('spark', 'df', target_relation) }}
{%- endmacro %}

{% macro databricks__dp_twin_python(target_relation) -%}
  {{ return(dp_synth.spark__dp_twin_python(target_relation)) }}
{%- endmacro %}
