#!/usr/bin/env bash
# Re-derives data/sklearn/ (two small tabular data sets the theory chapters use) from the PyPI wheel
# of scikit-learn 1.9.1, and checks that the committed files are byte-identical to the wheel's.
# Usage: scripts/fetch_sklearn_data.sh            (checks; exits non-zero on any difference)
#        scripts/fetch_sklearn_data.sh --write    (overwrites data/sklearn/ with the wheel's files)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
  --platform manylinux_2_28_x86_64 scikit-learn==1.9.1 -d "$tmp"
(cd "$tmp" && python3 -m zipfile -e scikit_learn-1.9.1-*.whl wheel)
src="$tmp/wheel/sklearn/datasets/data"
lic="$tmp/wheel/scikit_learn-1.9.1.dist-info/licenses/COPYING"
if [[ "${1:-}" == "--write" ]]; then
  cp "$src/iris.csv" "$src/breast_cancer.csv" data/sklearn/
  cp "$lic" data/sklearn/COPYING
fi
cmp "$src/iris.csv" data/sklearn/iris.csv
cmp "$src/breast_cancer.csv" data/sklearn/breast_cancer.csv
cmp "$lic" data/sklearn/COPYING
echo "data/sklearn matches scikit-learn 1.9.1"
