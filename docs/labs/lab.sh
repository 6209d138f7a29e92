# lab.sh — the few shell functions the labs use. Source it from the repository
# root, in bash:   . docs/labs/lab.sh
#
#   lab_start NAME [OPTION...]   start build/bin/NAME (or NAME itself, if it is a
#                                path) --port 0 --root $lab_www
#                                --stats-file FILE OPTION... in the background,
#                                on the server's CPUs (below), print the command
#                                and the server's first line, and set
#                                  $pid    the server's process id
#                                  $port   the port it picked
#                                  $url    http://127.0.0.1:$port
#                                  $stats  the stats file it writes at exit
#                                  $err    its stderr (the summary at exit)
#   lab_stop [PID]               SIGTERM, wait until it exits (SIGKILL after 15 s);
#                                returns its exit status (128+N: killed by signal N)
#   lab_get PATH                 one GET on a new connection; prints the status
#                                (000: no answer)
#   lab_parallel N COMMAND...    run N copies of COMMAND at once, wait for them
#   lab_now, lab_since T0        a clock in seconds; seconds elapsed since T0
#   lab_expect 'EXPR' 'WHAT'     evaluate EXPR (Python syntax, numbers filled in
#                                by the shell), a bound on what was measured;
#                                print "checked: WHAT (EXPR)", or UNEXPECTED and
#                                return false when it does not hold. WHAT names
#                                the quantity, never what it means: that is the
#                                student's to explain
#   $lab_server_cpus, $lab_load_cpus
#                                as the bench does, the first half of the CPUs
#                                this shell may use runs the servers (taskset),
#                                the other half the load: sourcing lab.sh pins
#                                this shell, and so every client it starts, to
#                                the second half. With one CPU (or no taskset)
#                                both are empty and nothing is pinned
#   $lab_dir                     a temporary directory; it goes, together with
#                                every server still running, when the shell exits
#   $lab_www                     $lab_dir/www, the servers' root: hello.txt and
#                                4000.bin (4000 bytes, the size UNP's client asked for)
#
# Everything talks only to 127.0.0.1, on ports the kernel picks.

lab_dir=$(mktemp -d "${TMPDIR:-/tmp}/lab.XXXXXX")
lab_servers=()
lab_serial=0
lab_www=$lab_dir/www
mkdir "$lab_www"
echo hello >"$lab_www/hello.txt"
head -c 4000 /dev/zero | tr '\0' x >"$lab_www/4000.bin"
ulimit -c 0                         # the isolation lab crashes servers: no core files

lab_server_cpus= lab_load_cpus=
if command -v taskset >/dev/null; then
    read -r lab_server_cpus lab_load_cpus < <(python3 -c 'import os
cpus = sorted(os.sched_getaffinity(0))
half = len(cpus) // 2
if half: print(",".join(map(str, cpus[:half])), ",".join(map(str, cpus[half:])))') || true
fi
if [ -n "$lab_load_cpus" ]; then
    taskset -pc "$lab_load_cpus" $$ >/dev/null
fi

lab_cleanup() {
    local server
    for server in "${lab_servers[@]}"; do
        kill -TERM "$server" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server" 2>/dev/null || true
    done
    rm -rf "$lab_dir"
}
trap lab_cleanup EXIT

lab_start() {
    local name=$1 binary=build/bin/$1 out line pin=()
    shift
    case $name in */*) binary=$name name=$(basename "$name") ;; esac   # a binary of your own
    [ -x "$binary" ] || { echo "lab_start: no $binary (run make)" >&2; return 1; }
    lab_serial=$((lab_serial + 1))
    out="$lab_dir/$lab_serial-$name.out"
    err="$lab_dir/$lab_serial-$name.err"
    stats="$lab_dir/$lab_serial-$name.json"
    : >"$out"
    [ -n "$lab_server_cpus" ] && pin=(taskset -c "$lab_server_cpus")
    echo "\$ ${pin[*]}${pin:+ }$binary --port 0 --root $lab_www --stats-file $stats $*"
    "${pin[@]}" "$binary" --port 0 --root "$lab_www" --stats-file "$stats" "$@" >"$out" 2>"$err" &
    pid=$!
    lab_servers+=("$pid")
    for _ in $(seq 100); do
        line=$(head -n 1 "$out")
        [ -n "$line" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    port=$(sed -nE '1s|^.* listening on http://[^ ]*:([0-9]+)/ .*$|\1|p' "$out")
    if [ -z "$port" ]; then
        echo "lab_start: $name did not start:" >&2
        cat "$out" "$err" >&2
        return 1
    fi
    echo "$line"
    url="http://127.0.0.1:$port"
    local last=-1 now stable=0      # a pool: wait until its workers are all forked
    for _ in $(seq 40); do
        now=$(ps --ppid "$pid" -o pid= | wc -l)
        if [ "$now" = "$last" ]; then stable=$((stable + 1)); else stable=0; fi
        [ "$stable" -ge 3 ] && break
        last=$now
        sleep 0.05
    done
    sleep 0.1                       # ... and asleep in their wait
}

lab_stop() {
    local server=${1:-$pid} status=0
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server" 2>/dev/null; then
        echo "lab_stop: $server did not exit within 15 s of SIGTERM: SIGKILL" >&2
        kill -KILL "$server"
    fi
    wait "$server" 2>/dev/null || status=$?
    return "$status"
}

lab_get() {
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$url$1" || true
}

lab_parallel() {
    local n=$1 jobs=() job status=0
    shift
    for _ in $(seq "$n"); do "$@" & jobs+=($!); done
    for job in "${jobs[@]}"; do wait "$job" || status=$?; done
    return "$status"
}

lab_now() { date +%s.%N; }
lab_since() { python3 -c "import sys, time; print('%.2f' % (time.time() - float(sys.argv[1])))" "$1"; }

lab_expect() {
    if python3 -c "import sys; sys.exit(0 if ($1) else 1)"; then
        echo "checked: $2  ($1)"
    else
        echo "UNEXPECTED: $2  ($1 is false): outside the bound this lab checks; run it again"
        return 1
    fi
}
