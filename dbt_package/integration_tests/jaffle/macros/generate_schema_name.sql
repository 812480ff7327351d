{#- jaffle-shop's rule: custom schemas only in prod; elsewhere everything lands in target.schema.
    Twins therefore get an alias with a suffix (models/twins/*.yml) so they never collide with the mart. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none or target.name != 'prod' -%}{{ target.schema }}
  {%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
