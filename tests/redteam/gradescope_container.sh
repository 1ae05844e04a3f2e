#!/usr/bin/env bash
# Grade one notebook with run_autograder in a fresh container of the Gradescope image, as
# tests/e2e/test_gradescope_container.py does (network off, 3 GB): prints results.json's
# hidden-visibility tests. Usage: tests/redteam/gradescope_container.sh IMAGE NOTEBOOK OUT
set -euo pipefail
image=${1:?image tag, e.g. dnn-grader-gradescope:3a5b551ea39c}
notebook=${2:?notebook}
out=${3:?output folder}
mkdir -p "$out/submission"
cp "$notebook" "$out/submission/submission.ipynb"
name="redteam-run-$$"
docker create --name "$name" --network none --memory 3g -w /autograder "$image" /autograder/run_autograder >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
docker cp "$out/submission/." "$name:/autograder/submission"
docker start -a "$name" >"$out/run.log" 2>&1 || true
docker cp "$name:/autograder/results/results.json" "$out/results.json"
python3 - "$out/results.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
print("score", doc["score"])
print(doc["output"][-1500:])
for t in doc["tests"]:
    if "LEAK" in t["output"]:
        print(t["visibility"], "|", t["name"], "|", t["output"][:400])
PY
