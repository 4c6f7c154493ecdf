{#- `relation.column`, or a typed null when the relation lacks the column: booking_batches gained
    columns (the file's figures at submit time) that tables written by older connector versions
    do not have, and the models must build on both. -#}
{% macro column_or_null(relation, column, data_type) %}
  {%- if execute -%}
    {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- if column | lower in names -%}
      {{ adapter.quote(column) }}
    {%- else -%}
      cast(null as {{ data_type }})
    {%- endif -%}
  {%- else -%}
    cast(null as {{ data_type }})
  {%- endif -%}
{% endmacro %}
