#!/usr/bin/env bash
# EMR bootstrap action: install the project and its pinned dependencies on every node.
# Usage (create-cluster): --bootstrap-actions Path=s3://ARTIFACTS_BUCKET/orders-pipeline/0.1.0/emr/bootstrap.sh,Args=[s3://ARTIFACTS_BUCKET/orders-pipeline/0.1.0]
# Needs Python >= 3.11 as the cluster's python3; otherwise use the packed environment (docs/deploy.md).
set -euo pipefail
ARTIFACTS="${1:?usage: bootstrap.sh s3://bucket/prefix}"
WORK="$(mktemp -d)"
aws s3 cp --quiet "$ARTIFACTS/requirements-emr.txt" "$WORK/"
aws s3 cp --quiet --recursive --exclude "*" --include "orders_pipeline-*.whl" "$ARTIFACTS/" "$WORK/"
# pyspark is not in the pins: the cluster's own Spark stays the one Python sees.
sudo python3 -m pip install --quiet -r "$WORK/requirements-emr.txt" "$WORK"/orders_pipeline-*.whl
python3 -c "import pipelines, deltalake; print('orders-pipeline installed')"
