#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ (run it again
after editing; the files are committed, so CI needs no Python for them).
Seeds are real-shaped inputs: S3's documented responses, the ECS/IMDS
credential documents, command lines as the README gives them, Aurora's
INTO OUTFILE S3 statements, and encoded writer configurations."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

S3_XML = {
    "list_page1": DECL + f'<ListBucketResult {NS}><Name>bq-data</Name><Prefix>exports/2026/</Prefix>'
    '<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>'
    '<Contents><Key>exports/2026/part-00000.tsv</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>'
    '<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>5242880</Size>'
    '<StorageClass>STANDARD</StorageClass></Contents>'
    '<Contents><Key>exports/2026/part-00001.tsv</Key><LastModified>2026-01-02T03:04:06.000Z</LastModified>'
    '<ETag>"d41d8cd98f00b204e9800998ecf8427e-3"</ETag><Size>0</Size><Owner><ID>abc</ID>'
    '<DisplayName>me</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>'
    '<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>'
    '<StartAfter>exports/</StartAfter></ListBucketResult>',
    "list_last_url": DECL + f'<ListBucketResult {NS}><Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount>'
    '<MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>'
    '<Contents><Key>d%2Fsp+ace%C3%A9%2B%00x</Key><Size>3</Size><ETag>"e"</ETag></Contents>'
    '<CommonPrefixes><Prefix>d%2F</Prefix></CommonPrefixes></ListBucketResult>',
    "list_empty": DECL + f'<ListBucketResult {NS}><Name>b</Name><Prefix>none/</Prefix><KeyCount>0</KeyCount>'
    '<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>',
    "list_entities": '<ListBucketResult><Contents><Key>p/&lt;x&gt;&amp;&#x41;&#10;</Key><Size>18446744073709551615'
    '</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>',
    "list_prefixed_ns": '<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Contents>'
    '<s3:Key>k</s3:Key></s3:Contents></s3:ListBucketResult>',
    "error_nosuchkey": DECL + '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>'
    '<Key>a/b</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>'
    'nbZ0qWn3Tdk8sVQ9EeR7FWzZMdq6kW6mXyFqxT3PvXo=</HostId></Error>',
    "error_signature": DECL + '<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we '
    'calculated does not match the signature you provided. Check your key and signing method.</Message>'
    '<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20260102T030405Z\n'
    '20260102/us-east-1/s3/aws4_request\nabc</StringToSign><SignatureProvided>deadbeef</SignatureProvided>'
    '<RequestId>1</RequestId></Error>',
    "error_slowdown": '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>'
    '<RequestId>2</RequestId></Error>',
    "error_redirect": '<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access '
    'must be addressed using the specified endpoint.</Message><Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint>'
    '<Bucket>b</Bucket></Error>',
    "error_nested": '<Error><Code>Outer</Code><Detail><Code>Inner</Code></Detail><Message>a &amp; b\r\nc'
    '</Message></Error>',
    "initiate": DECL + f'<InitiateMultipartUploadResult {NS}><Bucket>bq-data</Bucket><Key>exports/x.tsv</Key>'
    '<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>'
    '</InitiateMultipartUploadResult>',
    "complete": DECL + f'<CompleteMultipartUploadResult {NS}><Location>https://bq-data.s3.amazonaws.com/x'
    '</Location><Bucket>bq-data</Bucket><Key>x</Key><ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>'
    '</CompleteMultipartUploadResult>',
    "complete_200_error": DECL + '\n\n\n<Error><Code>InternalError</Code><Message>We encountered an internal '
    'error. Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId><HostId>'
    'Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>',
    "truncated": DECL + f'<ListBucketResult {NS}><Name>b</Name><IsTruncated>true</IsTruncated><Contents><Key>a',
    "doctype_entity": '<?xml version="1.0"?><!DOCTYPE Error [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
    '<Error><Code>&b;</Code></Error>',
    "deep": "<Error>" + "<X>" * 12 + "t" + "</X>" * 12 + "<Code>Deep</Code></Error>",
    "html_proxy": "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "utf16": '<?xml version="1.0" encoding="UTF-16"?>'.encode("utf-16").decode("latin-1"),
}

CREDS = {
    "ecs": '{"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","Expiration":"2026-11-28T12:00:00Z","RoleArn":'
    '"arn:aws:iam::123456789012:role/task","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",'
    '"Token":"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="}',
    "imds": '{\n  "Code" : "Success",\n  "LastUpdated" : "2026-11-28T11:00:00Z",\n  "Type" : "AWS-HMAC",\n'
    '  "AccessKeyId" : "ASIAIOSFODNN7EXAMPLE",\n  "SecretAccessKey" : "wJalrXUtnFEMI/K7MDENG/bPxRfiCY",\n'
    '  "Token" : "token",\n  "Expiration" : "2026-11-28T17:27:45.123+02:00"\n}\n',
    "imds_error": '{"Code":"AssumeRoleUnauthorizedAccess","Message":"no","LastUpdated":"2026-11-28T11:00:00Z"}',
    "missing_token": '{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2026-11-28T12:00:00Z"}',
    "bad_time": '{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"2026-13-40T25:61:61-24:00"}',
    "no_expiration": '{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T"}',
    "trailing": '{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T"} x',
    "escapes": '{"AccessKeyId":"A\\u0000B","SecretAccessKey":"\\ud83d\\ude00","Token":"\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    "array": '[{"AccessKeyId":"A"}]',
    "nested": '{"a":' * 40 + '1' + '}' * 40,
    "time_only": '2026-11-28T12:00:00.5z',
}

def cli(*args):
    return "\0".join(args)

CLI = {
    "file": cli("task.lua", "arg1", "arg2"),
    "s3_uri": cli("--region", "eu-west-1", "s3://bq-scripts/tasks/nightly.lua?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "x"),
    "bucket_key": cli("bq-scripts", "tasks/nightly.lua", "2026-01-01"),
    "e_code": cli("-v", "-e", "log.info('hi')", "a", "b"),
    "stdin": cli("-q", "-q", "-"),
    "inline": cli("--timeout=1.5", "--memory-limit=256M", "--log-format=json", "--allow-bucket=a-b.c",
                  "--allow-bucket", "bq-data", "--sha256", "a" * 64, "--", "-weird.lua"),
    "endpoint": cli("--endpoint", "http://127.0.0.1:9000", "--path-style", "--insecure-endpoint", "s3://b12/k"),
    "endpoint6": cli("--endpoint=https://[::1]:4443/base", "t.lua"),
    "env": cli("@env:BQLUA_SHARD_INDEX=2", "@env:BQLUA_SHARD_COUNT=4", "@env:AWS_REGION=us-east-1",
               "@env:BQLUA_ALLOW_BUCKETS=a12,b-34", "@env:BQLUA_MASK_ENV=DB_PASSWORD,X_1",
               "@env:AWS_MAX_ATTEMPTS=5", "@env:BQLUA_LOG_LEVEL=warning", "t.lua"),
    "env_batch": cli("@env:AWS_BATCH_JOB_ARRAY_INDEX=0", "@env:AWS_BATCH_JOB_ARRAY_SIZE=1",
                     "@env:AWS_ENDPOINT_URL=http://localhost:1", "@env:BQLUA_S3_PATH_STYLE=1",
                     "@env:BQLUA_TIMEOUT=0", "@env:BQLUA_MEMORY_LIMIT=1T", "t.lua"),
    "bad": cli("--region", "EU", "--memory-limit", "1k", "x"),
    "help": cli("--help"),
    "version": cli("--version"),
    "s3root": cli("--s3-root", "/tmp", "--ca-bundle", "/etc/hostname", "t.lua"),
}

OSQL = {
    "basic": "SELECT * FROM t INTO OUTFILE S3 's3://bq-data/exports/t'",
    "region_full": "SELECT id, name FROM db.users WHERE created > '2026-01-01' INTO OUTFILE S3 "
    "'s3-us-west-2://bq-data/exports/users' CHARACTER SET utf8mb4 FORMAT CSV HEADER "
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' "
    "LINES STARTING BY '>' TERMINATED BY '\\r\\n' MANIFEST ON OVERWRITE ON ENCRYPTION SSE_KMS 'alias/k';",
    "text": "select a from b into outfile s3 's3://b/p' format text fields terminated by '\\t' escaped by '' "
    "lines terminated by '\\n' 'x' overwrite off manifest off encryption off",
    "comments": "/* c */ SELECT `weird``col`, \"s\\\"q\", 'it''s' -- comment\n# hash\nFROM t /*! 500 */ "
    "INTO OUTFILE S3 's3://b/p' -- end\n",
    "paren": "(SELECT 1) UNION (SELECT 2) INTO OUTFILE S3 's3://b/p' CHARSET binary",
    "subquery": "WITH x AS (SELECT 'INTO OUTFILE S3' AS s FROM (SELECT 1) y) SELECT * FROM x "
    "INTO OUTFILE S3 's3://b/p' COLUMNS ENCLOSED BY '\"'",
    "bad_twice": "SELECT 1 INTO OUTFILE S3 's3://b/p' FORMAT CSV FORMAT TEXT",
    "bad_uri": "SELECT 1 INTO OUTFILE S3 'http://b/p'",
    "not_select": "UPDATE t SET a = 1",
    "unterminated": "SELECT 'abc INTO OUTFILE S3 's3://b/p",
    "escapes": "SELECT 1 INTO OUTFILE S3 's3://b/p' FIELDS TERMINATED BY '\\0\\b\\Z\\%\\_\\q' ENCRYPTION ON",
    "inline_local": "SELECT 1 INTO OUTFILE '/tmp/x'",
}

# fuzz_outfile: flags byte, options (length byte + bytes), shape, kinds, fields (null byte, len, bytes)
def outfile(fmt_csv, optionally, opts, ncols, rows, kinds=0):
    flags = (1 if fmt_csv else 0) | (2 if optionally else 0)
    body = b""
    for k, v in enumerate(opts):
        if v is not None:
            flags |= 4 << k
            body += bytes([len(v)]) + v
    nrows = len(rows)
    out = bytes([flags]) + body + bytes([ncols | (nrows << 4), kinds])
    for row in rows:
        for f in row:
            if f is None:
                out += b"\x00\x00"
            else:
                out += b"\x01" + bytes([len(f)]) + f
    return out

ROWS = [[b"1", b"a\tb", None], [b"", b"x\\y\nz", b"\x00q"], [b"-3.5e+2", b'"quoted"', b"N"]]
OUTFILE = {
    "text_default": outfile(False, False, [None] * 5, 3, ROWS),
    "text_numbers": outfile(False, False, [None] * 5, 3, ROWS, kinds=0b101),
    "text_enclosed": outfile(False, False, [b",", b'"', b"\\", None, b"\r\n"], 3, ROWS),
    "text_opt_enclosed": outfile(False, True, [b",", b'"', None, None, None], 3, ROWS, kinds=0b001),
    "text_no_escape": outfile(False, False, [b"|", None, b"", b">", b"<\n"], 3, ROWS),
    "text_ambiguous": outfile(False, False, [b"n", None, None, None, b"Z"], 3, ROWS),
    "text_line_empty": outfile(False, False, [b";;", None, b"$", None, b""], 3, ROWS),
    "text_blob": outfile(False, False, [b"-", None, None, None, None], 3, ROWS, kinds=0x80 | 0b010),
    "csv_default": outfile(True, False, [None] * 5, 3, ROWS),
    "csv_crlf": outfile(True, False, [b";", None, None, None, b"\r\n"], 3, ROWS),
    "csv_multi_sep": outfile(True, False, [b"::", None, None, None, None], 3, ROWS),
    "csv_bad_enclosed": outfile(True, False, [None, b'"', None, None, None], 3, ROWS),
    "text_fixed_width": outfile(False, False, [b"", b"", None, None, None], 3, ROWS),
}

def write(target, seeds, binary=False):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode("latin-1" if target == "s3_xml" and name == "utf16" else "utf-8")
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

def main():
    write("s3_xml", S3_XML)
    write("s3_uri", {
        "uri": "s3://bq-data/exports/2026/part-00000.tsv",
        "uri_version": "s3://bq-scripts/a?b/nightly.lua?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "uri_bad_bucket": "s3://Bad_Bucket/k",
        "uri_ip": "s3://192.168.5.4/k",
        "uri_alias": "s3://xn--abc-s3alias/k",
        "endpoint_http": "http://127.0.0.1:9000",
        "endpoint_https_path": "https://s3.eu-west-1.amazonaws.com/base/",
        "endpoint_v6": "http://[::1]:4566",
        "endpoint_userinfo": "https://user:pw@example.com",
        "endpoint_query": "https://example.com/?x#y",
        "endpoint_port0": "http://localhost:0",
        "bucket": "bq-data.eu-west-1",
    })
    write("creds_json", CREDS)
    write("cli", CLI)
    write("outfile_sql", OSQL)
    write("outfile", OUTFILE)

if __name__ == "__main__":
    main()
