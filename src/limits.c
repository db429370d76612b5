/* placeholder */ typedef int bq_placeholder_limits;
