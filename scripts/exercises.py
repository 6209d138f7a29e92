#!/usr/bin/env python3
"""exercises.py [--dest DIR] [--only ID[,ID]] [--list] — write the student tree: a copy of the
project's tracked files in which every region of the servers' code marked

    /* EXERCISE ID: what the region does */
    ...the reference code...
    /* END EXERCISE */

is replaced by a stub that compiles (with -Werror) and fails the exercise's
checks quickly: the task, in a comment that names the chapter section to read
first, and just enough code to build. The regions are cut from the reference
sources, so an exercise cannot drift from them; an ID may mark several regions
(the two halves of the queue), each with its own stub, in order.

EXERCISES below is the table `make grade` (scripts/grade.py) reads too: per
exercise the stubs, the section to read and the checks that prove it.
Passages of the docs marked <!-- EXERCISE ID --> ... <!-- END EXERCISE -->
(the reference code a chapter shows) are replaced by a pointer to the task.
Files the copy leaves as they are keep their modification times, so a build
tree copied next to them rebuilds only what the stubs changed. The tree is a
git repository of its own, its first commit the stubs: `git diff` there shows
the student's work.

--only cuts only those exercises (the others stay the reference code);
--list prints the exercises, one a line. Default DEST: build/student. DEST
must be missing, an empty directory, or a tree this script wrote before (it
holds the file MARKER, below), which is emptied first: anything else is left
alone. Exit status 2, with one line naming the problem, when a marker and the
table disagree or DEST is none of those. The exercises are described in
docs/labs/exercises.md.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Written first into every student tree: only a directory holding it is emptied.
MARKER = ".student-tree"
MARKER_TEXT = ("A student tree written by scripts/exercises.py (make exercises), which\n"
               "empties this directory before it writes it again.\n")
BEGIN = re.compile(r"^(\s*)/\* EXERCISE ([a-z0-9-]+): (.*) \*/\s*$")
END = re.compile(r"^\s*/\* END EXERCISE \*/\s*$")
# The same in the docs (Markdown): a passage that would hand the answer out
# (the reference code), invisible in the rendered page,
#     <!-- EXERCISE ID -->
#     ...
#     <!-- END EXERCISE -->
# and replaced in the student tree by a pointer to the task (DOC_POINTER).
DOC_BEGIN = re.compile(r"^()<!-- EXERCISE ([a-z0-9-]+) -->\s*$")
DOC_END = re.compile(r"^<!-- END EXERCISE -->\s*$")
DOC_POINTER = ("> **Exercise `{id}`:** this part is yours to write: the task is in the stub "
               "in `{file}`, the checks in [exercises.md]({exercises}) (`make grade ONLY={id}`).")

# The black-box cases each exercise runs against its configuration: the basic
# answers, keep-alive and pipelining, a slow handler, both timeouts and a stop.
BLACKBOX_CASES = ("get_html,big_file_sha256,keep_alive_two_requests,pipeline_three_in_order,"
                  "lab_sleep_100,idle_timeout,stalled_header,sigterm_right_after_request")


def blackbox(config, cause, bin_dir="build/bin", limit=60, cases=BLACKBOX_CASES, points=10):
    """A check: black-box cases (default: BLACKBOX_CASES) against one
    configuration, with the servers of bin_dir (build-san-thread/bin: built with
    TSan). cause: what a failure usually means, shown under it."""
    where = " under TSan" if "san-thread" in bin_dir else ""
    what = "" if cases == BLACKBOX_CASES else f" {cases}"
    return {"name": f"blackbox [{config}]{what}{where}", "points": points, "bin_dir": bin_dir,
            "argv": ["tests/blackbox/run.py", "--server", config, "--case", cases],
            "lines": None, "sleeps": None, "limit": limit, "cause": cause}


def proxied(config, cause, cases=BLACKBOX_CASES, limit=60, points=10):
    """A check: black-box cases with config as a proxy (--proxy) in front of one
    upstream, `threaded`: a server no exercise cuts, so that a student tree's
    other stubs do not break the upstream."""
    check = blackbox(config, cause, cases=cases, limit=limit, points=points)
    check["name"] = f"blackbox --proxy [{config}]" + ("" if cases == BLACKBOX_CASES else f" {cases}")
    check["argv"] = ["tests/blackbox/run.py", "--proxy", "threaded"] + check["argv"][1:]
    return check


def proxy_rows(check, rows, points, cause, limit=60):
    """A check: rows of tests/hardening's proxy-faults or proxy-fields (--row:
    rows whose name has one of these words) against multiplex as the proxy, in
    front of tests/lib/upstream.py's misbehaving upstream."""
    return {"name": f"hardening --only {check} --row {rows}", "points": points,
            "bin_dir": "build/bin",
            "argv": ["tests/hardening/run.py", "--only", check, "--server", "multiplex",
                     "--row", rows],
            "lines": None, "sleeps": None, "limit": limit, "cause": cause}


def slow_reader(config, cause):
    """A check: the black-box slow reader against one configuration, a file and
    a long /lab/bytes read slower than the server writes (short writes, EAGAIN)."""
    return blackbox(config, cause, cases="slow_reader_file_and_lab_bytes", limit=30)


def suite_check(suite, only, points, cause, lines=None, sleeps=None, limit=20):
    """A check: one --only case of tests/process or tests/eventloop. With lines,
    only its result lines containing that text count (at least one must be
    there); with sleeps=(LOW, HIGH), the herd line containing it must measure
    LOW <= sleeps/connection <= HIGH. cause: what a failure usually means (a
    suite that knows better prints its own "  cause: " line, which wins); with
    sleeps, {"low": ..., "high": ...}: below LOW and above HIGH mean different
    mistakes."""
    return {"name": f"{suite} --only {only}" + (f" [{lines}]" if lines else ""),
            "points": points, "bin_dir": "build/bin",
            "argv": [f"tests/{suite}/run.py", "--only", only],
            "lines": lines, "sleeps": sleeps, "limit": limit, "cause": cause}


# The accept lock adds sleeps in the lock to the one in accept(). The check
# pauses 1 ms between connections, as the bench does, so the waiters are asleep
# in the lock when it is released: the holder sleeps in accept(), the release
# wakes a waiter, and a waiter that finds the lock taken again by the time it
# runs sleeps again (docs/prefork.md#--accept-lock-fcntl--mutex-unp-307308).
# Not every waiter wakes at each unlock, which would be 16 here: 2.7-3.2 with
# the reference (16 workers, Linux 6), up to 8.3 when the pause grows (a loaded
# machine, or 2 ms). No lock at all measures 1.05; a lock taken by polling
# sleeps once per try, far more than the 16 workers there are.
LOCK_SLEEPS = (1.5, 16.5)

EXERCISES = {
    "fork-reap": {
        "file": "fork_per_conn/main.c",
        "read": "docs/fork_per_conn.md#the-sigchld-handler",
        "task": """Reap the children and bound how many run (--max-procs).
reap_children is the SIGCHLD handler: reap every child that has exited (one
signal may stand for several), without blocking, and keep children[] and
live_children true; remember_child records a new child. wait_for_free_slot
waits while max_procs children live and no stop is asked for, losing neither
a child's exit nor a stop between the test and the wait (main blocks SIGCHLD
and the stop signals: docs/fork_per_conn.md#race-2-check-then-wait--the-lost-wakeup).
Until then every child stays a zombie and nothing bounds them.""",
        "stubs": ["(void)signal_number;", "(void)pid;",
                  "(void)unblocked;               /* never waits: nothing bounds the children */"],
        "checks": [blackbox("fork_per_conn --max-procs 8",
                            "children[] and live_children must stay true (+1 when a child "
                            "is recorded, -1 when it is reaped: the stop signals the children "
                            "it knows of), and the handler must never block"),
                   suite_check("process", "zombies", 10,
                               "one SIGCHLD may stand for several exits: reap in a loop, "
                               "waitpid(-1, ..., WNOHANG), until none is left"),
                   suite_check("process", "max-procs", 10,
                               "count each child once (+1 recorded, -1 reaped) and wait "
                               "while max_procs live"),
                   suite_check("process", "stop-max-procs", 10,
                               "a signal that arrives between the test and the wait is lost: "
                               "block it and let the wait unblock it atomically", limit=30),
                   suite_check("process", "lost-child", 10,
                               "a signal that arrives between the test and the wait is lost: "
                               "block it and let the wait unblock it atomically")],
    },
    "prefork-lock": {
        "file": "prefork/lock.c",
        "read": "docs/prefork.md#--accept-lock-fcntl--mutex-unp-307308",
        "task": """The fcntl accept lock (--accept-lock fcntl). accept_lock_acquire
takes a write lock on lock_fd, sleeping until it is free, and says whether it
holds it (false when a signal interrupted the wait); accept_lock_release gives
it back. The kernel drops the lock of a child that dies holding it.""",
        "stubs": ["""usleep(100 * 1000);         /* no lock yet: never held, and no busy loop */
return false;""", """/* nothing to release yet */"""],
        "checks": [blackbox("prefork --workers 2 --accept-lock fcntl",
                            "the lock must be taken before accept() and always given back "
                            "after it, on every path (a child that keeps it serves alone)"),
                   suite_check("process", "kill", 10,
                               "take the lock with F_SETLKW on lock_fd (a record lock the "
                               "kernel drops when its holder dies), and retry or report EINTR",
                               lines="--accept-lock fcntl"),
                   suite_check("process", "herd", 10,
                               {"low": "the lock must exclude: a write lock (F_WRLCK) each "
                                "child takes before accept() and gives back (F_SETLK, "
                                "F_UNLCK) after it; a lock not held, shared or never given "
                                "back leaves the herd in accept() or one child alone",
                                "high": "sleep in F_SETLKW until the lock is free: polling "
                                "for it (F_SETLK and a pause, in a loop) wakes far more often"},
                               lines="herd prefork --accept-lock fcntl",
                               sleeps=LOCK_SLEEPS, limit=45)],
    },
    "pass-fd": {
        "file": "prefork/dispatch.c",
        "read": "docs/prefork.md#--dispatch-pass-fd-unp-309",
        "task": """The parent's side of --dispatch pass-fd. send_fd sends conn_fd to a
child over its Unix socket: one byte of data carrying an SCM_RIGHTS control
message with the descriptor (receive_fd, just below, is the child's side).
0 when sent, -1 with errno set otherwise; never SIGPIPE.""",
        "stubs": ["""(void)channel_fd, (void)conn_fd;
errno = ENOSYS;
return -1;"""],
        "checks": [blackbox("prefork --workers 2 --dispatch pass-fd",
                            "the descriptor travels only in an SCM_RIGHTS control message: "
                            "msg_control sized CMSG_SPACE(sizeof(int)), cmsg_len "
                            "CMSG_LEN(sizeof(int)), at least one byte of data, MSG_NOSIGNAL"),
                   suite_check("process", "counters", 10,
                               "each connection must reach exactly one child, whole: send "
                               "it once, and report a failed send (-1, errno) so the parent "
                               "closes its copy",
                               lines="--dispatch pass-fd")],
    },
    "queue": {
        "file": "threaded/queue.c",
        "read": "docs/threaded.md#the-model",
        "task": """The bounded queue of --pool-mode queue: one mutex, two condition
variables. queue_insert (the main thread) waits while the queue is full (in
timed steps, looking at server_stopping() between them), then appends conn_fd
and wakes one consumer; false if the queue is closed. queue_remove (a pool
thread) waits while it is empty and not closed, then takes the oldest
descriptor and wakes the producer; -1 once it is closed and empty. Count the
wait with stats_wait_begin/stats_wait_end. queue_close (at a stop) closes it
and wakes every thread that waits on it.""",
        "stubs": ["""(void)queue, (void)conn_fd;
return false;                   /* every connection is closed unanswered */""",
                  """(void)queue, (void)worker;
return -1;                      /* the pool thread ends at once */""",
                  """(void)queue;                    /* nobody is told: a stop waits in vain */"""],
        "checks": [blackbox("threaded --pool 4 --pool-mode queue",
                            "the queue's rules: put at (head + count) % capacity and take at "
                            "head; test again after every wait (while, not if); unlock on "
                            "every path out; closing wakes every waiting thread (a server "
                            "that does not stop at SIGTERM has threads still waiting)"),
                   blackbox("threaded --pool 1 --pool-mode queue",
                            "with the queue always full the producer must wait while full "
                            "(in timed steps, testing the stop between them), and a consumer "
                            "that takes one must wake it (signal not_full)"),
                   blackbox("threaded --pool 4 --pool-mode queue",
                            "under ThreadSanitizer a data race fails it: every access to "
                            "the queue must hold its mutex (if the same cases failed above, "
                            "fix that first)",
                            bin_dir="build-san-thread/bin"),
                   suite_check("process", "stop-pool", 10,
                               "a stop must wake every waiting thread: "
                               "pthread_cond_broadcast when the queue closes, not "
                               "pthread_cond_signal")],
    },
    "mux-write": {
        "file": "multiplex/conn.c",
        "read": "docs/multiplex.md#the-state-machine",
        "task": """One step of the state machine: sending the response without blocking.
send_some writes what the state says is next (CONN_SENDING_HEAD: the rest of
the head in http->out; CONN_SENDING_FILE: up to FILE_CHUNK of the file with
sendfile; CONN_SENDING_BYTES: the generated body, from http_pattern), then
calls finish_response once all is sent. wrote decides what follows a write
that returned n: progress earns a fresh deadline, and done_state once done;
EINTR: again; EAGAIN: wait until the socket is writable (wait_for); anything
else: the client is gone (fail_conn).""",
        "stubs": ["""(void)n, (void)done_state, (void)done;
return fail_conn(conn);""",
                  """(void)wrote, (void)finish_response;   /* unused until you call them */
return fail_conn(conn);         /* no response is ever sent */"""],
        "checks": [blackbox("multiplex --backend epoll",
                            "each step must move the state on: the head, then the file, then "
                            "the generated bytes, then finish_response once all is sent"),
                   slow_reader("multiplex --backend epoll",
                               "a write that answered EAGAIN must wait for writability, not "
                               "end the connection; a short write must resume where it stopped"),
                   suite_check("eventloop", "sleep20", 10,
                               "a step must never block the loop: write only what the socket "
                               "takes now, and return to the loop (wait_for) otherwise"),
                   suite_check("eventloop", "half-request", 5,
                               "a step must never block the loop: one connection waiting must "
                               "not hold up the others")],
    },
    "mux-relay": {
        "file": "multiplex/upstream.c",
        "read": "docs/multiplex.md#the-second-socket",
        "task": """One step of the proxy's last state, CONN_RELAYING: the upstream's answer to
the client. First what is pending, one write() of it: the head in http->out
(conn->head_sent of conn->response.head_length sent), then the body in
up->relay[up->sent, up->length); a failed write goes to write_failed. Once
nothing is pending: a broken body (up->response_bad) ends the connection
(broken), a complete one (up->response_done) ends the upstream (upstream_end)
and the answer (conn_finish); else read the next piece from the upstream
into up->relay and hand it to take_body. Never read the upstream before the
client took the last piece (the bounded buffer, the back-pressure). The
upstream's EOF ends a close-delimited body (HTTP_PROXY_UNTIL_CLOSE) and
breaks any other; EAGAIN waits on the upstream alone (wait_upstream). Bytes
moved earn a fresh deadline: --timeout-ms after a write to the client,
upstream_timeout_ms after a read from the upstream.""",
        "stubs": ["""return conn_fail(conn);        /* no answer is ever relayed */"""],
        "checks": [proxied("multiplex --backend epoll",
                           "each step must move the answer on: the head, then the body, "
                           "then upstream_end and conn_finish once the body is complete"),
                   proxied("multiplex --backend epoll",
                           "a write that answered EAGAIN must wait for the client "
                           "(write_failed), and a short write resume where it stopped; "
                           "the upstream is read only once relay[] is empty",
                           cases="slow_reader_file_and_lab_bytes,big_file_sha256", limit=30),
                   proxy_rows("proxy-faults", "mid-body,lying,leaves,bounded", 10,
                              "a body cut short is told by closing the connection (broken), "
                              "never by finishing it; the upstream is read only when the "
                              "client has taken the last piece"),
                   proxy_rows("proxy-fields", "close-delimited,chunked with", 5,
                              "the upstream's EOF ends a close-delimited body; a chunked one "
                              "ends when take_body says so (up->response_done)")],
    },
    "coro-wait": {
        "file": "coroutine/sched.c",
        "read": "docs/coroutine.md#how-timers-wake-a-coroutine",
        "task": """The wait hook: io_read and friends met EAGAIN. Park the calling
coroutine: watch fd for the event (on_ready resumes it), arm the task's timer
for deadline_ms (on_timer resumes it with IO_WAIT_TIMEOUT), note what it waits
for in task->waiting, yield to the loop, and return why it was resumed.
A cancelled task never yields; a stop interrupts one read
(docs/coroutine.md#stopping).""",
        "stubs": ["""(void)fd, (void)event, (void)deadline_ms, (void)on_ready;
return IO_WAIT_TIMEOUT;         /* every wait fails at once */"""],
        "checks": [blackbox("coroutine",
                            "the wait must end with IO_WAIT_READY when the socket is ready "
                            "and IO_WAIT_TIMEOUT at the deadline, its watch and timer "
                            "removed either way"),
                   slow_reader("coroutine",
                               "a write that met EAGAIN must wait for EVENT_WRITE on the "
                               "socket (the event asked for, not always EVENT_READ)"),
                   suite_check("eventloop", "coroutine-sleep20", 10,
                               "a waiting coroutine must yield to the loop, never sleep or "
                               "spin in it: the others run meanwhile"),
                   suite_check("eventloop", "coroutine-half-request", 5,
                               "arm the deadline before yielding: a client that stops "
                               "sending must be timed out, and must not hold up the others")],
    },
}


class Problem(Exception):
    """The markers and the table disagree; the message says where."""


def tracked_files(root):
    """The project's tracked files (relative paths); outside git, every file but
    the build trees' and the VCS's."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                             check=True).stdout.decode()
        return [p for p in out.split("\0") if p and os.path.isfile(os.path.join(root, p))]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for top, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "build")))
            found += [os.path.relpath(os.path.join(top, n), root) for n in sorted(names)]
        return found


def regions(path, text, begin=BEGIN, end=END):
    """[(id, first line index, last line index, indent)] of the marked regions
    (begin, end: the marker lines, the code's by default)."""
    found, open_at = [], None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        begun = begin.match(line)
        if begun and open_at is not None:
            raise Problem(f"{path}:{i + 1}: EXERCISE inside the region begun at line {open_at[1] + 1}")
        if begun:
            open_at = (begun.group(2), i, begun.group(1))
        elif end.match(line):
            if open_at is None:
                raise Problem(f"{path}:{i + 1}: END EXERCISE without an EXERCISE line")
            found.append((open_at[0], open_at[1], i, open_at[2]))
            open_at = None
    if open_at is not None:
        raise Problem(f"{path}:{open_at[1] + 1}: EXERCISE {open_at[0]} has no END EXERCISE")
    return found


def cut_doc(path, text, wanted):
    """A doc's text with its marked passages of the wanted exercises replaced by
    a pointer to the task (the markers of the others dropped)."""
    lines, out, at = text.split("\n"), [], 0
    for exercise_id, first, last, _ in regions(path, text, DOC_BEGIN, DOC_END):
        exercise = EXERCISES.get(exercise_id)
        if exercise is None:
            raise Problem(f"{path}:{first + 1}: no exercise {exercise_id} in scripts/exercises.py")
        out += lines[at:first]
        if exercise_id in wanted:
            exercises = os.path.relpath("docs/labs/exercises.md", os.path.dirname(path))
            out.append(DOC_POINTER.format(id=exercise_id, file=exercise["file"],
                                          exercises=exercises))
        else:
            out += lines[first + 1:last]
        at = last + 1
    return "\n".join(out + lines[at:])


def stub_lines(exercise_id, exercise, index, indent):
    """The replacement of the index-th region of an exercise."""
    lines = []
    if index == 0:
        lines.append(f"/* TODO exercise {exercise_id}.")
        lines += [f" * {t}" for t in exercise["task"].split("\n")]
        lines.append(f" * Read first: {exercise['read']}")
        lines.append(f" * Then: make grade ONLY={exercise_id} */")
    else:
        lines.append(f"/* TODO exercise {exercise_id}, part {index + 1}: see part 1 above. */")
    lines += exercise["stubs"][index].split("\n")
    return [indent + line if line else "" for line in lines]


def cut(path, text, wanted):
    """text with the marked regions of the wanted exercises replaced by their
    stubs (the markers of the others dropped), and the ids found."""
    lines, out, ids, at = text.split("\n"), [], [], 0
    for exercise_id, first, last, indent in regions(path, text):
        exercise = EXERCISES.get(exercise_id)
        if exercise is None:
            raise Problem(f"{path}:{first + 1}: no exercise {exercise_id} in scripts/exercises.py")
        if exercise["file"] != path:
            raise Problem(f"{path}:{first + 1}: exercise {exercise_id} belongs to {exercise['file']}")
        index = ids.count(exercise_id)
        if index >= len(exercise["stubs"]):
            raise Problem(f"{path}:{first + 1}: exercise {exercise_id} has "
                          f"{len(exercise['stubs'])} stub(s), this is region {index + 1}")
        if exercise_id in wanted:
            out += lines[at:first] + stub_lines(exercise_id, exercise, index, indent)
        else:
            out += lines[at:first] + lines[first + 1:last]
        at = last + 1
        ids.append(exercise_id)
    return "\n".join(out + lines[at:]), ids


def clear_dest(dest):
    """Make way for the tree at dest: nothing to do if it is missing or an empty
    directory; empty it if it holds MARKER (a tree this script wrote); refuse
    anything else, so that DEST=~ cannot delete a home directory."""
    if not os.path.lexists(dest):
        return
    if os.path.islink(dest) or not os.path.isdir(dest):
        raise Problem(f"{dest}: not a directory; give --dest a new or empty directory")
    if not os.listdir(dest):
        return
    if not os.path.isfile(os.path.join(dest, MARKER)) or os.path.islink(os.path.join(dest, MARKER)):
        raise Problem(f"{dest}: not empty and not a student tree (no {MARKER}); left as it is: "
                      "give --dest a new or empty directory")
    shutil.rmtree(dest)


def write_tree(root, dest, wanted):
    """Copy root's tracked files to dest, the marked regions of the wanted
    exercises stubbed. Returns {exercise id: number of regions}."""
    files = tracked_files(root)
    found = {}
    cuts = {}
    for path in files:
        if path.endswith((".c", ".h")):
            with open(os.path.join(root, path), encoding="utf-8") as f:
                text = f.read()
            if "EXERCISE" in text:
                new, ids = cut(path, text, wanted)
                if ids:
                    cuts[path] = new
                    for i in ids:
                        found[i] = found.get(i, 0) + 1
        elif path.endswith(".md") and path != "docs/labs/exercises.md":
            with open(os.path.join(root, path), encoding="utf-8") as f:
                text = f.read()
            if "<!-- EXERCISE" in text:
                cuts[path] = cut_doc(path, text, wanted)
    for exercise_id, exercise in EXERCISES.items():
        count = found.get(exercise_id, 0)
        if count != len(exercise["stubs"]):
            raise Problem(f"{exercise['file']}: exercise {exercise_id}: {count} marked "
                          f"region(s), scripts/exercises.py has {len(exercise['stubs'])} stub(s)")
    if os.path.realpath(dest) == os.path.realpath(root):
        raise Problem(f"{dest}: the student tree cannot be the repository itself")
    clear_dest(dest)
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, MARKER), "w", encoding="utf-8") as f:
        f.write(MARKER_TEXT)
    for path in files:
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if path in cuts:
            with open(target, "w", encoding="utf-8") as f:
                f.write(cuts[path])
            shutil.copymode(os.path.join(root, path), target)
        else:
            shutil.copy2(os.path.join(root, path), target)
    commit_stubs(dest)
    return found


def commit_stubs(dest):
    """Make dest a git repository of its own whose first commit is the tree as
    written (the stubs), so that `git diff` there shows the student's work."""
    def git(*args):
        subprocess.run(["git", "-C", dest, "-c", "user.name=exercises.py",
                        "-c", "user.email=exercises@student-tree", "-c", "commit.gpgsign=false",
                        *args], check=True, capture_output=True)
    try:
        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "-m", "The exercises' stubs, as make exercises wrote them")
    except subprocess.CalledProcessError as error:
        raise Problem(f"{dest}: git {' '.join(error.cmd[9:])} failed: "
                      f"{error.stderr.decode(errors='replace').strip()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dest", default=os.path.join(ROOT, "build", "student"))
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(EXERCISES))
    parser.add_argument("--list", action="store_true", help="print the exercises and stop")
    args = parser.parse_args()
    wanted = [e for e in args.only.split(",") if e] or list(EXERCISES)
    unknown = [e for e in wanted if e not in EXERCISES]
    if unknown:
        parser.error(f"no such exercise: {', '.join(unknown)} (there are {', '.join(EXERCISES)})")
    if args.list:
        for exercise_id, exercise in EXERCISES.items():
            print(f"{exercise_id:13} {exercise['file']:22} {exercise['read']}")
        return 0
    try:
        write_tree(ROOT, os.path.abspath(args.dest), wanted)
    except (Problem, OSError) as error:
        print(f"exercises: {error}", file=sys.stderr)
        return 2
    print(f"exercises: wrote {args.dest}: {len(wanted)} exercises ({', '.join(wanted)}); "
          f"build and grade it with: make -C {args.dest} grade")
    return 0


if __name__ == "__main__":
    sys.exit(main())
