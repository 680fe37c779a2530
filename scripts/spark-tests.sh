#!/usr/bin/env bash
# The Spark adapter's tests (hotzone.spark, issue 15) on local[2], as CI runs them.
#
#   scripts/spark-tests.sh            builds and installs ./python (maturin, via pip) into a venv
#   HOTZONE_WHEEL=path.whl scripts/spark-tests.sh    installs that wheel instead (no build)
#
# Installs what is missing: Java 17 from Debian's packages, pyspark 4 (and pytest) from PyPI.
# HOTZONE: the CLI binary the tests compare with (default: the release build in
# $CARGO_TARGET_DIR or $HOME/.cache/hotzone-release). HZ_SPARK_VENV: the venv
# (default $HOME/.cache/hotzone-spark-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null; then
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless
fi
VENV=${HZ_SPARK_VENV:-$HOME/.cache/hotzone-spark-venv}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
if [[ -n ${HOTZONE_WHEEL:-} ]]; then
  "$VENV/bin/pip" install -q --force-reinstall --no-deps "$HOTZONE_WHEEL"
  "$VENV/bin/pip" install -q "pyarrow>=15" "pyspark>=4,<5" numpy "pandas>=2,<3" "pytest>=7"
else
  "$VENV/bin/pip" install -q "./python[spark,test]" "pandas<3"
fi
if [[ -z ${HOTZONE:-} ]]; then
  for c in "${CARGO_TARGET_DIR:-/nonexistent}/release/hotzone" "$HOME/.cache/hotzone-release/release/hotzone"; do
    [[ -x $c ]] && HOTZONE=$c && break
  done
fi
export HOTZONE
# The tests start their own local[2] session; the Python workers use this venv's python.
"$VENV/bin/python" -m pytest -q python/tests/test_spark.py
