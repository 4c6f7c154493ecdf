{#- A text value inside a JSON string column (`path` in JSONPath, e.g. '$[0].fiscal_year_start').
    Arrays and objects land as JSON text; dbt's cross-database macros have no JSON accessor. -#}
{% macro json_text(column, path) %}
  {{ return(adapter.dispatch('json_text', 'ml_connector')(column, path)) }}
{% endmacro %}

{% macro default__json_text(column, path) %}
  get_json_object({{ column }}, '{{ path }}')
{% endmacro %}

{% macro duckdb__json_text(column, path) %}
  json_extract_string({{ column }}, '{{ path }}')
{% endmacro %}
