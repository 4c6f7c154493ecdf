{#- The booked ledger's tables (Accounting Data Exchange) exist only where the tap ran with ade_enabled:
    the tap declares a stream's table only when it offers the stream. `optional_source` is the source's
    relation when the table is there, else none; the demo's delta_lake plugin stands an absent optional
    table in as a relation whose only column is ABSENT_MARKER. -#}
{% macro optional_source(source_name, table_name) %}
  {%- set relation = source(source_name, table_name) -%}
  {%- if execute and not adapter.dispatch('source_present', 'ml_connector')(relation) -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return(relation) }}
{% endmacro %}

{% macro default__source_present(relation) %}
  {{ return(adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none) }}
{% endmacro %}

{#- The plugin makes a relation for every source as the model is compiled, after dbt cached the schema's
    relations: the columns tell. -#}
{% macro duckdb__source_present(relation) %}
  {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
  {{ return(names | length > 0 and '_ml_connector_absent' not in names) }}
{% endmacro %}

{#- select `columns` (a list of [expression, name, type]) from `relation` where `where`; with no relation
    (an absent optional source) the same columns as typed nulls and no row, so the models build on
    both. -#}
{% macro select_or_empty(relation, columns, where='true') %}
select
  {%- for expression, name, data_type in columns %}
    {{ expression if relation else 'cast(null as ' ~ data_type ~ ')' }} as {{ name }}{{ ',' if not loop.last }}
  {%- endfor %}
{%- if relation %}
from {{ relation }}
where {{ where }}
{%- else %}
from (select 1 as absent) as no_table
where 1 = 0
{%- endif %}
{% endmacro %}

{#- on-run-start: dbt-duckdb's plugin creates the sources' schema as each model reads its first source,
    and two threads doing that at once in a new marts file conflict ("write-write conflict on create"):
    the schema is made once before. Elsewhere the connector's schema exists. -#}
{% macro create_source_schema() %}
  {{ return(adapter.dispatch('create_source_schema', 'ml_connector')()) }}
{% endmacro %}

{% macro default__create_source_schema() %}
  select 1
{% endmacro %}

{% macro duckdb__create_source_schema() %}
  create schema if not exists {{ adapter.quote(env_var('DATABRICKS_SCHEMA', 'datev')) }}
{% endmacro %}
