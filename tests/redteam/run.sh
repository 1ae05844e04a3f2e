#!/usr/bin/env bash
# Reproduce one red-team attack: tests/redteam/run.sh ATTACK [OUT]   (from the repository root, as root)
# ATTACK: leak | dask | hog | hog-control | hog01 | similarity | leftover | slot | gradescope-slot | sleeps | nested
#         | shape-leak | flood | crash-collect | crash-collect-batch   (round 4)
#         | past-filter | storm | copy-module | download-refused   (round 5)
#         | turns | spell | keys | walk   (round 6)
# Each case builds its class folder under OUT (default /tmp/redteam), grades it with the real CLI
# as an instructor would, and prints what decides the finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
attack=${1:?usage: tests/redteam/run.sh ATTACK [OUT]}
out=${2:-/tmp/redteam}
ag=(nice -n 5 .venv/bin/autograder)
level=()  # LEVEL=--no-namespaces runs the same attack at the no-namespace level
if [ -n "${LEVEL:-}" ]; then level=("$LEVEL"); fi
py=.venv/bin/python
nb="$out/notebooks"
rm -rf "${out:?}/$attack"
mkdir -p "$out/$attack"
$py tests/redteam/make.py "$nb" >/dev/null
class="$out/$attack/class"
mkdir -p "$class"
summary() {  # score, passes, cell errors and lost questions of every result under $1
    $py - "$1" <<'EOF'
import glob, json, sys
for f in sorted(glob.glob(f"{sys.argv[1]}/**/*.json", recursive=True)):
    r = json.loads(open(f).read())
    if "questions" not in r:
        continue
    e = r.get("execution") or {}
    lost = [(q["id"], q["status"]) for q in r["questions"] if q["score"] < q["max_score"]]
    print(f"{r['student']}: {r['score']:g}/{r['max_score']:g} in {e.get('seconds')} s, passes {e.get('passes')}, "
          f"isolation {r.get('isolation')}\n  cell errors {e.get('cell_errors')}\n  lost {lost}")
EOF
}
case "$attack" in
leak)  # hidden-case inputs shown in the student's feedback through an exception message
    "${ag[@]}" grade "$nb/leaks_hidden_inputs_05.ipynb" --assignment 05_regularisation --out "$out/$attack/out"
    $py -c "import json,sys; r=json.load(open(sys.argv[1])); [print(m) for q in r['questions'] if q['id']=='l1_penalty' for m in q['feedback']]" \
        "$out/$attack/out/leaks_hidden_inputs_05.json"
    ;;
dask)  # a notebook runs code on the grader's Dask scheduler (no-namespace level)
    rm -f /tmp/redteam-dask-pwned.json
    cp "$nb/dask_escape_05.ipynb" "$class/mallory_05_regularisation.ipynb"
    .venv/bin/dask scheduler --host 127.0.0.1 --port 18786 --no-dashboard >"$out/$attack/scheduler.log" 2>&1 &
    sched=$!
    sleep 5
    .venv/bin/dask worker tcp://127.0.0.1:18786 --nthreads 1 --no-dashboard >"$out/$attack/worker.log" 2>&1 &
    worker=$!
    sleep 10
    "${ag[@]}" grade "$class" --out "$out/$attack/out" --no-namespaces --dask-scheduler tcp://127.0.0.1:18786 "${level[@]}" || true
    kill "$worker" "$sched" || true
    sleep 5
    kill -9 "$worker" "$sched" 2>/dev/null || true  # a nanny may outlast SIGTERM
    summary "$out/$attack/out/results"
    echo "written by the scheduler (root) at the notebook's request:"
    cat /tmp/redteam-dask-pwned.json 2>/dev/null || echo "(nothing: contained)"
    ;;
hog | hog-control)  # a neighbour's busy processes get an honest notebook's function blamed as hung
    cp solutions/04_optimizers.ipynb "$class/bob_04_optimizers.ipynb"
    if [ "$attack" = hog ]; then
        cp "$nb/cpu_hog_04.ipynb" "$class/mallory_04_optimizers.ipynb"
    else
        cp solutions/04_optimizers.ipynb "$class/mallory_04_optimizers.ipynb"
    fi
    "${ag[@]}" grade "$class" --out "$out/$attack/out" --workers 2 "${level[@]}" || true
    summary "$out/$attack/out/results"
    ;;
hog01)  # the same hog beside a longer honest notebook (01 imports Keras), so that the two overlap
    cp solutions/01_activations_and_initialisation.ipynb "$class/alice_01_activations_and_initialisation.ipynb"
    cp "$nb/cpu_hog_04.ipynb" "$class/mallory_04_optimizers.ipynb"
    "${ag[@]}" grade "$class" --out "$out/$attack/out" --workers 2 "${level[@]}" || true
    summary "$out/$attack/out/results"
    ;;
similarity)  # a copy run from a compressed string is not flagged; the plain copy is
    cp solutions/05_regularisation.ipynb "$class/alice_05_regularisation.ipynb"
    cp "$nb/copy_plain_05.ipynb" "$class/bob_05_regularisation.ipynb"
    cp "$nb/copy_hidden_05.ipynb" "$class/carol_05_regularisation.ipynb"
    cp assignments/05_regularisation.ipynb "$class/dave_05_regularisation.ipynb"
    cp "$nb/copy_hidden_unnamed_05.ipynb" "$class/erin_05_regularisation.ipynb"
    "${ag[@]}" grade "$class" --out "$out/$attack/out" --workers 2 || true
    cat "$out/$attack/out/gradebook.csv"
    .venv/bin/autograder similarity "$out/$attack/out" --top 10
    ;;
leftover)  # files a notebook leaves in world-writable folders other than /tmp, /var/tmp, ... (no-namespace level)
    "${ag[@]}" grade "$nb/leaves_files_outside_places_05.ipynb" --assignment 05_regularisation --out "$out/$attack/out" --no-namespaces || true
    echo "left on the host after grading:"
    find /var -name redteam-leftover.bin -printf "%u %s %p\n" 2>/dev/null || true
    find /var -name redteam-leftover.bin -delete 2>/dev/null || true
    ;;
slot)  # a notebook uploaded to another assignment's Canvas slot replaces the on-time one
    mkdir -p "$class/dl01" "$class/dl05"
    cp assignments/01_activations_and_initialisation.ipynb "$class/dl01/mallory_1007_50001_01_activations_and_initialisation.ipynb"
    cp solutions/05_regularisation.ipynb "$class/dl05/mallory_1007_50120_05_regularisation.ipynb"
    cp solutions/01_activations_and_initialisation.ipynb "$class/dl05/mallory_1007_50121_01_activations_and_initialisation.ipynb"
    $py -c "
from pathlib import Path
from autograder.batch.discover import discover
d = discover([Path('$class/dl01'), Path('$class/dl05')], Path('$out/$attack/work'))
[print('graded:  ', s.key, '<-', s.path.relative_to('$class')) for s in d.submissions]
[print('unplaced:', u.file, '--', u.reason) for u in d.unplaced]"
    ;;
gradescope-slot)  # a full-marks 01 notebook renamed into a 05 Gradescope assignment, through the zip's run_autograder
    if "${ag[@]}" export gradescope --out "$out/$attack/any.zip" >/dev/null 2>"$out/$attack/export.err"; then
        echo "export gradescope without --assignment: accepted"
    else
        echo "export gradescope without --assignment: refused: $(tail -n 1 "$out/$attack/export.err")"
    fi
    "${ag[@]}" export gradescope --assignment 05_regularisation --seed 1 --out "$out/$attack/autograder.zip" >/dev/null
    root="$out/$attack/autograder"
    mkdir -p "$root/submission"
    $py -m zipfile -e "$out/$attack/autograder.zip" "$root/source"
    cp solutions/01_activations_and_initialisation.ipynb "$root/submission/my_05_regularisation.ipynb"
    GRADESCOPE_ROOT="$root" PATH="$PWD/.venv/bin:$PATH" bash "$root/source/run_autograder" >"$out/$attack/run.log" 2>&1 || true
    $py -c "import json,sys; r=json.load(open(sys.argv[1])); print('results.json score', r['score']); print(r['output'][:300])" \
        "$root/results/results.json"
    ;;
sleeps)  # a hang that sleeps (no CPU time): how long it holds a worker
    cp "$nb/sleeps_04.ipynb" "$class/mallory_04_optimizers.ipynb"
    start=$(date +%s)
    "${ag[@]}" grade "$class" --out "$out/$attack/out" "${level[@]}" || true
    echo "batch wall time: $(($(date +%s) - start)) s"
    summary "$out/$attack/out/results"
    ;;
nested)  # an array inside a list argument modified in place
    "${ag[@]}" grade "$nb/modifies_nested_input_01.ipynb" --assignment 01_activations_and_initialisation --out "$out/$attack/out" "${level[@]}" || true
    summary "$out/$attack/out"
    ;;
shape-leak)  # round 4: hidden-case inputs spelled in the shape of an empty answer
    "${ag[@]}" grade "$nb/leaks_hidden_inputs_in_shapes_05.ipynb" --assignment 05_regularisation --seed 7 --out "$out/$attack/out" "${level[@]}" || true
    $py -c "import json,sys; r=json.load(open(sys.argv[1])); [print(m) for q in r['questions'] if q['id']=='l1_penalty' for m in q['feedback']]" \
        "$out/$attack/out/leaks_hidden_inputs_in_shapes_05.json"
    echo "the hidden inputs of seed 7, from the grader's own plan:"
    $py -c "
import numpy as np
from autograder.questions import ASSIGNMENTS
from autograder.grading.prepare import make_plan
p = make_plan(ASSIGNMENTS['05_regularisation'], 7)
for c in p.cases['l1_penalty']:
    t = np.ravel(np.asarray(c.call.decoded_args(p.inputs)[0], float))
    print(f'  {c.description}: size {t.size}, first two {t[:2]}')"
    ;;
flood)  # round 4: forged events for 4,000 empty cells, 250 KB each: the grader's peak memory
    /usr/bin/time -v "${ag[@]}" grade "$nb/floods_events_05.ipynb" --assignment 05_regularisation --out "$out/$attack/out" "${level[@]}" \
        2>"$out/$attack/time.log" >/dev/null || true
    grep -E "Maximum resident|Elapsed" "$out/$attack/time.log"
    summary "$out/$attack/out"
    ;;
crash-collect)  # round 4: the protocol played to its end, with an arrays.npz flagged encrypted
    "${ag[@]}" grade "$nb/crashes_the_collector_05.ipynb" --assignment 05_regularisation --out "$out/$attack/out" "${level[@]}" \
        && echo "graded (contained)" || echo "exit $? (the grader stopped on it)"
    ;;
crash-collect-batch)  # the same beside an honest notebook, in a 2-worker batch
    cp solutions/05_regularisation.ipynb "$class/alice_05_regularisation.ipynb"
    cp "$nb/crashes_the_collector_05.ipynb" "$class/mallory_05_regularisation.ipynb"
    "${ag[@]}" grade "$class" --out "$out/$attack/out" --workers 2 "${level[@]}" || echo "exit $?"
    cat "$out/$attack/out/gradebook.csv"
    ;;
past-filter)  # round 5: hidden inputs past the filter: a cell's exception class name, its message x10, warnings' words
    "${ag[@]}" grade "$nb/leaks_past_the_filter_01.ipynb" --assignment 01_activations_and_initialisation --seed 7 \
        --out "$out/$attack/out" "${level[@]}" || true
    $py - "$out/$attack/out/leaks_past_the_filter_01.json" <<'EOF'
import json, re, sys
import numpy as np
from autograder.grading.prepare import make_plan
from autograder.questions import ASSIGNMENTS
r = json.load(open(sys.argv[1]))
print(f"score {r['score']:g}/{r['max_score']:g}")
for e in r["execution"]["cell_errors"]:
    print(f"cell error shown: {e['ename']}: {e['evalue']}")
U = sorted(n for n in dir(np) if isinstance(getattr(np, n), np.ufunc))[:100]
lines = [m for q in r["questions"] if q["id"] == "sigmoid" for m in q["feedback"]]
for line in lines:
    print("feedback:", line)
    found = re.findall(r"encountered in (scalar )?(\w+)", line)
    if line.startswith("hidden case") and len(found) == 4:
        s = [U.index(name) + (100 if scalar else 0) for scalar, name in found]
        d = "".join(f"{v:02d}" for v in s[:3])
        print(f"   decoded: {'-' if s[3] >= 100 else ''}{d[0]}.{d[1:]}e{s[3] % 100 - 50}")
p = make_plan(ASSIGNMENTS["01_activations_and_initialisation"], 7)
print("the plan's own hidden inputs (seed 7), first value of each sigmoid case:")
for c in p.cases["sigmoid"]:
    if not c.public:
        print(f"  {c.description}: {np.ravel(np.asarray(c.call.decoded_args(p.inputs)[0], float))[:1]}")
EOF
    ;;
storm)  # round 5: a hang whose own children make one another wait, taken by the watchdog for starvation
    for v in deaf_sleeps_04 storms_04; do
        start=$(date +%s)
        "${ag[@]}" grade "$nb/$v.ipynb" --assignment 04_optimizers --out "$out/$attack/$v" "${level[@]}" >/dev/null || true
        echo "$v: $(( $(date +%s) - start )) s for the grade"
        summary "$out/$attack/$v"
    done
    ;;
copy-module)  # round 5: the copy written to a module from a rot13 string and imported: nothing listed
    cp solutions/05_regularisation.ipynb "$class/alice_05_regularisation.ipynb"
    cp "$nb/copy_through_a_module_05.ipynb" "$class/carol_05_regularisation.ipynb"
    "${ag[@]}" grade "$class" --out "$out/$attack/out" --workers 1 "${level[@]}" || true
    cat "$out/$attack/out/gradebook.csv"
    .venv/bin/autograder similarity "$out/$attack/out" --top 10
    ;;
download-refused)  # round 5: one student's file name refuses the class's Canvas download (no assignment in its name)
    dl="$out/$attack/DL2026-Assignment 5 Regularization submissions"
    mkdir -p "$dl"
    cp solutions/05_regularisation.ipynb "$dl/alice_1001_50001_05_regularisation.ipynb"
    cp solutions/05_regularisation.ipynb "$dl/bob_1002_50002_05_regularisation.ipynb"
    cp assignments/01_activations_and_initialisation.ipynb "$dl/mallory_1007_50003_01_activations_and_initialisation.ipynb"
    $py -c "import pathlib, sys, zipfile
d = pathlib.Path(sys.argv[1])
with zipfile.ZipFile(f'{d}.zip', 'w') as z:
    [z.write(f, f.name) for f in sorted(d.glob('*.ipynb'))]" "$dl"
    "${ag[@]}" grade "$dl.zip" --out "$out/$attack/out" "${level[@]}" && echo "exit 0" || echo "exit $?"
    ;;
turns)  # round 6: a hang whose own tasks take turns on one CPU (a burner and idle-policy waiters)
    for v in deaf_sleeps_04 takes_turns_04; do
        start=$(date +%s)
        (  # the sandbox's CPU time and tasks every 10 s, from its cgroup
            while sleep 10; do
                for d in /sys/fs/cgroup/cpuacct/dnn-grader-* /sys/fs/cgroup/cpuacct/*/dnn-grader-*; do
                    [ -f "$d/cpuacct.usage" ] || continue
                    echo "  $(( $(date +%s) - start )) s: cpu $(( $(cat "$d/cpuacct.usage") / 10000000 ))e-2 s, $(wc -l <"$d/tasks") tasks"
                done
            done
        ) &
        mon=$!
        "${ag[@]}" grade "$nb/$v.ipynb" --assignment 04_optimizers --out "$out/$attack/$v" "${level[@]}" >/dev/null || true
        kill "$mon" 2>/dev/null || true
        echo "$v: $(( $(date +%s) - start )) s for the grade"
        summary "$out/$attack/$v"
    done
    ;;
spell)  # round 6: hidden inputs in full, spelled in CJK ideographs by eight failing cells (no decimal digit to filter)
    "${ag[@]}" grade "$nb/spells_hidden_inputs_04.ipynb" --assignment 04_optimizers --seed 7 \
        --out "$out/$attack/out" "${level[@]}" >/dev/null || true
    .venv/bin/autograder export gradescope-results "$out/$attack/out/spells_hidden_inputs_04.json" "$out/$attack/results.json" >/dev/null
    $py - "$out/$attack/results.json" "$out/$attack/out/spells_hidden_inputs_04.json" <<'EOF'
import json, re, sys
import numpy as np
from autograder.grading.prepare import make_plan
from autograder.questions import ASSIGNMENTS
gs, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"score {r['score']:g}/{r['max_score']:g}; Gradescope's top-level output ({len(gs['output'])} characters):")
print("\n".join(line[:160] for line in gs["output"].splitlines()))
values = []
for run in re.findall(r"[\u4e00-\u8dff]+", gs["output"]):  # class name, then message, cell by cell
    for i in range(0, len(run) - 4, 5):
        n = sum((ord(c) - 0x4E00) << (14 * k) for k, c in enumerate(run[i : i + 5]))
        values.append(float(np.uint64(n & (2**64 - 1)).view(np.float64)))
p = make_plan(ASSIGNMENTS["04_optimizers"], 7)
plan = [float(x) for k in sorted(k for k in p.inputs if ".h" in k) if np.asarray(p.inputs[k]).dtype.kind == "f"
        for x in np.ravel(p.inputs[k])]
exact = sum(1 for a, b in zip(values, plan) if a == b)
print(f"decoded {len(values)} values from the output; {exact} equal the plan's hidden inputs bit for bit "
      f"(seed 7: {len(plan)} hidden input values in all); first three {values[:3]} vs {plan[:3]}")
EOF
    ;;
keys)  # round 6: a key left in the sandbox uid's kernel keyring, read by later notebooks of any uid
    mkdir -p "$class/1" "$class/2"
    cp solutions/05_regularisation.ipynb "$class/1/alice_05_regularisation.ipynb"
    cp "$nb/leaves_a_key_05.ipynb" "$class/1/mallory_05_regularisation.ipynb"
    cp solutions/05_regularisation.ipynb "$class/2/carol_05_regularisation.ipynb"
    cp "$nb/finds_keys_05.ipynb" "$class/2/bob_05_regularisation.ipynb"
    "${ag[@]}" grade "$class/1" --out "$out/$attack/out1" --workers 2 "${level[@]}" >/dev/null || true
    echo "after the first batch, keys in the sandbox uids' keyrings (/proc/key-users, uid: keys):"
    awk '$1+0 >= 60000 {print "  " $1, $4}' /proc/key-users
    "${ag[@]}" grade "$class/2" --out "$out/$attack/out2" --workers 2 "${level[@]}" >/dev/null || true
    summary "$out/$attack/out1/results"
    summary "$out/$attack/out2/results"
    ;;
walk)  # round 6: the grader's own CPU time while a hang leaves 89,910 empty files for the watchdog's disk walk
    for v in deaf_sleeps_04 walks_the_watchdog_04; do
        "${ag[@]}" grade "$nb/$v.ipynb" --assignment 04_optimizers --out "$out/$attack/$v" "${level[@]}" >/dev/null 2>&1 &
        pid=$!
        cpu=0
        while kill -0 "$pid" 2>/dev/null; do  # the grader's own threads (utime + stime), not its children's
            cpu=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "$cpu")
            sleep 1
        done
        echo "$v: the grader's own CPU time $((cpu / $(getconf CLK_TCK))) s"
        summary "$out/$attack/$v"
    done
    ;;
*)
    echo "unknown attack $attack" >&2
    exit 2
    ;;
esac
