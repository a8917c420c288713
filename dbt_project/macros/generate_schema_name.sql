{#- Models land in exactly the schema they configure (`staging`, `marts`), not
    `<target schema>_staging`: the warehouse has one set of schemas, shared by every run. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
