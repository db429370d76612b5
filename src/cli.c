/* placeholder */ typedef int bq_placeholder_cli;
