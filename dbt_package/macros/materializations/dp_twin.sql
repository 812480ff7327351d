{#- materialized='dp_twin': a Python model that returns dbt.ref('<table>') becomes that table's DP twin.
    Training, the twin and its ledger row are one call to dp_synth.dbt.publish (the same code path as the
    CLI): the twin and its ledger row commit together, caps are re-checked inside that transaction, and
    an unchanged source with unchanged settings reuses the twin without a new spend. -#}

{% materialization dp_twin, adapter='duckdb', supported_languages=['python'] %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {%- set code = compiled_code ~ '\n\n' ~ dp_synth.dp_twin_python(target_relation) -%}
  {% call statement('main', language='python') -%}
    {{ code }}
  {%- endcall %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{#- dbt-spark / dbt-databricks: the Python is submitted to the cluster (submission_method job_cluster,
    all_purpose_cluster, …), which must have dp-synth installed; publish() there writes twin + ledger row. -#}
{% materialization dp_twin, adapter='spark', supported_languages=['python'] %}
  {{ return(dp_synth.dp_twin_on_cluster(this, compiled_code, pre_hooks, post_hooks)) }}
{% endmaterialization %}

{% materialization dp_twin, adapter='databricks', supported_languages=['python'] %}
  {{ return(dp_synth.dp_twin_on_cluster(this, compiled_code, pre_hooks, post_hooks)) }}
{% endmaterialization %}

{% macro dp_twin_on_cluster(this, compiled_code, pre_hooks, post_hooks) %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {{ run_hooks(pre_hooks) }}
  {%- set code = compiled_code ~ '\n\n' ~ dp_synth.dp_twin_python(target_relation) -%}
  {% call statement('main', language='python') -%}
    {{ code }}
  {%- endcall %}
  {{ run_hooks(post_hooks) }}
  {{ return({'relations': [target_relation]}) }}
{% endmacro %}

{% materialization dp_twin, default, supported_languages=['python'] %}
  {{ exceptions.raise_compiler_error("dp_synth: materialized='dp_twin' is implemented for dbt-duckdb, dbt-spark "
     ~ "and dbt-databricks; adapter " ~ adapter.type() ~ " has no implementation (override the dp_twin_python "
     ~ "macro for it, see dbt_package/README.md)") }}
{% endmaterialization %}
