{#- The privacy ledger, as dbt sees it. The Python helper (dp_synth.dbt.synthesize) stages the
    spend of a run in dp_synth_ledger_pending; this post-hook moves it into dp_synth_ledger inside
    the transaction that renames the new twin into place, so twin and ledger row commit together. -#}

{% macro ledger_schema() -%}
  {{ return(var('dp_synth_ledger_schema', target.schema)) }}
{%- endmacro %}

{% macro ledger_relation(name='dp_synth_ledger') -%}
  {{ return(adapter.quote(dp_synth.ledger_schema()) ~ '.' ~ adapter.quote(name)) }}
{%- endmacro %}

{% macro commit_spend(relation) -%}
  {%- set twin = relation.schema ~ '.' ~ relation.identifier -%}
  {%- set pending = dp_synth.ledger_relation('dp_synth_ledger_pending') -%}
  {%- set exists = false -%}
  {%- if execute -%}
    {#- not adapter.get_relation: dbt's relation cache predates the Python model that staged the row -#}
    {%- set found = run_query("select count(*) from information_schema.tables where table_schema = '"
                               ~ dp_synth.ledger_schema() | replace("'", "''") ~ "' and table_name = 'dp_synth_ledger_pending'") -%}
    {%- set exists = found.columns[0].values()[0] > 0 -%}
  {%- endif -%}
  {%- if exists -%}
    create table if not exists {{ dp_synth.ledger_relation() }} as select * from {{ pending }} limit 0;
    insert into {{ dp_synth.ledger_relation() }}
      select * replace ('{{ invocation_id }}' as dbt_invocation_id) from {{ pending }} where dbt_model = '{{ this.identifier | replace("'", "''") }}';
    delete from {{ pending }} where dbt_model = '{{ this.identifier | replace("'", "''") }}'
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
