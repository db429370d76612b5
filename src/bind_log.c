/* placeholder */ typedef int bq_placeholder_bind_log;
