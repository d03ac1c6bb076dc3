"""Spark reads every Parquet output table of regrade runs: rows per course equal the manifest's.

Usage: python3 tests/readers/spark_check.py RUN_FOLDER... (`make spark-check` runs it on a run
and a backfill of a generated dataset). Needs pyspark and a Java runtime; too heavy for CI, so
it is a make target, not part of `make test`. Exits 1 on any mismatch.
"""
import json
import sys
from urllib.parse import unquote

from pyspark.sql import SparkSession


def main(roots):
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    failed = 0
    for root in roots:
        with open(root + "/manifest.json") as f:
            outputs = [o for o in json.load(f)["outputs"] if o["path"].endswith(".parquet")]
        for table in sorted({o["path"].split("/course_id=")[0] for o in outputs}):
            df = spark.read.parquet(root + "/" + table)
            got = {r["course_id"]: r["count"] for r in df.groupBy("course_id").count().collect()}
            want = {}
            for o in outputs:
                if o["path"].startswith(table + "/course_id="):
                    course = unquote(o["path"].split("/course_id=")[1].split("/")[0])
                    want[course] = want.get(course, 0) + o["rows"]
            ok = got == want
            failed += not ok
            print(f"{'ok' if ok else 'MISMATCH'} {root}/{table}: {sum(got.values())} rows, "
                  f"course_id {dict(df.dtypes)['course_id']}" + ("" if ok else f" got {got} want {want}"))
    spark.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
