#!/bin/bash
# Round 4: round 3's hog01 attack with two busy processes outside the grader besides (a loaded machine).
cd "$(dirname "$0")/../.."
python3 -c 'while True: pass' & b1=$!
python3 -c 'while True: pass' & b2=$!
echo "burners $b1 $b2"
start=$(date +%s)
tests/redteam/run.sh hog01 /tmp/rt4
echo "batch wall $(( $(date +%s) - start )) s"
kill $b1 $b2
