{#- Where the privacy ledger lives, as dbt sees it: one rule for the dp_twin materialization (which passes it
    to the Python side) and for the generic tests. var dp_synth_ledger_schema, default the target's schema. -#}

{% macro ledger_schema() -%}
  {{ return(adapter.dispatch('ledger_schema', 'dp_synth')()) }}
{%- endmacro %}

{% macro default__ledger_schema() -%}
  {{ return(var('dp_synth_ledger_schema', target.schema)) }}
{%- endmacro %}

{% macro ledger_relation(name='dp_synth_ledger') -%}
  {{ return(adapter.dispatch('ledger_relation', 'dp_synth')(name)) }}
{%- endmacro %}

{% macro default__ledger_relation(name) -%}
  {{ return(adapter.quote(dp_synth.ledger_schema()) ~ '.' ~ adapter.quote(name)) }}
{%- endmacro %}

{% macro commit_spend(relation) -%}
  {{ exceptions.raise_compiler_error("dp_synth.commit_spend is gone: a post-hook could be forgotten and a twin "
     ~ "published with no ledger row. Use materialized='dp_twin' (the twin and its ledger row are written "
     ~ "together) and remove the post_hook from " ~ relation) }}
{%- endmacro %}
