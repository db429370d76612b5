#!/usr/bin/python3
"""The Python peer of bqlua's conn:export for scripts/bench.sh export.

Debian's python3-pymysql + python3-boto3 only. Streams a query with an
SSCursor (unbuffered: rows are read as they arrive), formats every row as
MySQL's SELECT ... INTO OUTFILE text (TAB between fields, LF after a row,
NULL as \\N, the escape character before a backslash, a TAB or a LF, NUL as
\\0, CR left alone) and uploads the bytes as one object with boto3's
upload_fileobj from a file-like object fed by the cursor (multipart, 8 MiB
parts, uploaded by boto3's threads while rows keep coming).

To be honest, i.e. to write the same bytes as bqlua and not more slowly than
needed: values are taken as the server's text, undecoded (use_unicode=False,
no converters), so no float/decimal/datetime round trip changes a byte, and
the escaping only runs on values that hold a byte to escape.

usage: export_pymysql.py HOST PORT USER DATABASE SQL s3://BUCKET/KEY ENDPOINT
The password comes from $BQ_BENCH_PASSWORD, the S3 keys from the environment.
Prints "ROWS BYTES" on stdout.
"""
import io
import os
import sys

import boto3
import pymysql
import pymysql.cursors
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

TAB, LF, NULL = b"\t", b"\n", b"\\N"


def esc(v):
    if v is None:
        return NULL
    if b"\\" in v or b"\t" in v or b"\n" in v or b"\0" in v:
        v = v.replace(b"\\", b"\\\\").replace(b"\t", b"\\\t").replace(b"\n", b"\\\n").replace(b"\0", b"\\0")
    return v


class RowStream(io.RawIOBase):
    """A readable stream of the formatted rows of an unbuffered cursor."""

    def __init__(self, cur, batch=1000):
        self.cur, self.batch = cur, batch
        self.buf, self.pos = bytearray(), 0
        self.rows = self.bytes = 0
        self.done = False

    def readable(self):
        return True

    def _fill(self, want):
        join = TAB.join
        while not self.done and len(self.buf) - self.pos < want:
            rows = self.cur.fetchmany(self.batch)
            if not rows:
                self.done = True
                break
            self.rows += len(rows)
            chunk = LF.join([join([esc(v) for v in r]) for r in rows]) + LF
            if self.pos:
                del self.buf[:self.pos]
                self.pos = 0
            self.buf += chunk

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        self._fill(n)
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += len(out)
        self.bytes += len(out)
        return out

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def main():
    host, port, user, database, sql, uri, endpoint = sys.argv[1:8]
    bucket, _, key = uri[len("s3://"):].partition("/")
    conn = pymysql.connect(host=host, port=int(port), user=user, password=os.environ["BQ_BENCH_PASSWORD"],
                           database=database, charset="utf8mb4", use_unicode=False, conv={},
                           cursorclass=pymysql.cursors.SSCursor)
    s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
    with conn.cursor() as cur:
        cur.execute(sql)
        stream = RowStream(cur)
        s3.upload_fileobj(stream, bucket, key,
                          Config=TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20))
    conn.close()
    print(stream.rows, stream.bytes)


if __name__ == "__main__":
    main()
