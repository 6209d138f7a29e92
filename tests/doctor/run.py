#!/usr/bin/env python3
"""Where it runs: the servers without a kernel feature they use
(docs/design.md#kernel-features). Shims preloaded with LD_PRELOAD take a
feature away; the servers must fall back, or say why in one line and exit 2.

usage: run.py [--bin-dir DIR] [--only CASE[,CASE]]
Cases:
  no-openat2-startup  iterative, multiplex and prefork without openat2 (ENOSYS:
                      a kernel before 5.6, valgrind 3.19; EPERM: a seccomp
                      filter): one line on stderr naming it, and files served
  no-openat2-walk     without openat2, a table of requests through symlinks
                      (inside, outside, absolute, `..` after a link, loops,
                      dangling, directory links): the statuses and bodies the
                      contract gives (docs/design.md#static-files)
  no-openat2-blackbox the black-box suite, traversal and symlink cases included,
                      against iterative and multiplex with openat2 gone (all
                      cases but exposed_bind_warning_and_lab, which counts stderr lines: the
                      fallback's line is one more, checked above)
  old-uring-blackbox  the black-box suite against coroutine --io uring with
                      io_uring as 5.11-5.18 have it (old_uring.c: no
                      SINGLE_ISSUER/DEFER_TASKRUN, no provided buffer ring):
                      the server falls back and passes
  doctor-here         make doctor (scripts/doctor.py) on this machine: exit 0,
                      every feature of its table probed
  doctor-shims        make doctor under each shim: the faked missing feature is
                      reported (no_openat2.c: ENOSYS and EPERM; no_uring.c:
                      ENOSYS and EPERM; old_uring.c), what it stops is named
                      (without io_uring, in coroutine's own words), and the
                      exit status stays 0
  doctor-no-compiler  make doctor where the probe cannot be built (CC names no
                      compiler): it says so and exits 1, as make test cannot pass
Ends with "doctor: N passed, N failed".
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import testserver as ts  # noqa: E402

# The black-box cases that cannot hold with the fallback's start-up line on
# stderr, and why; no-openat2-startup checks that line itself.
BLACKBOX_LEFT_OUT = {"exposed_bind_warning_and_lab": "wants exactly one line on stderr (its warning)"}
BLACKBOX_CONFIGS = ["iterative", "multiplex --workers 2 --backend epoll"]


def shim(scratch, name, **settings):
    """The environment that preloads tests/doctor/NAME.c, with settings added."""
    env, problem = ts.preload_env(os.path.join(HERE, name + ".c"), scratch)
    if env is None:
        raise RuntimeError(f"{name}.c does not build: {problem}")
    env.update(settings)
    return env


# ------------------------------------------------------------------ openat2

def make_link_root(base):
    """BASE/root is served, BASE/outside/secret is not; links of every kind."""
    root = os.path.join(base, "root")
    os.makedirs(os.path.join(root, "dir", "sub"))
    os.makedirs(os.path.join(base, "outside"))
    files = {"a.txt": "hello\n", "dir/inner.txt": "inner\n", "dir/index.html": "<p>dir</p>\n",
             "../outside/secret": "SECRET\n"}
    for name, content in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(content)
    links = {
        "link_in": "a.txt",
        "link_chain": "link_in",
        "link_dir": "dir",
        "link_deep": "dir/sub",
        "link_deep_up": "link_deep/../inner.txt",      # dir/sub/.. is dir, not the root
        "dir/up": "..",
        "dir/up_up": "../..",
        "link_absolute_in": os.path.join(root, "a.txt"),
        "link_absolute_out": os.path.join(base, "outside", "secret"),
        "link_out": "../outside/secret",
        "link_out_dir": "../outside",
        "link_out_dotdot": "dir/../../outside/secret",
        "loop_a": "loop_b",
        "loop_b": "loop_a",
        "dangling": "nowhere.txt",
    }
    for name, target in links.items():
        os.symlink(target, os.path.join(root, name))
    return root


# (request path, status, body when 200): the contract, whichever resolver.
WALK_TABLE = [
    ("/a.txt", 200, b"hello\n"),
    ("/link_in", 200, b"hello\n"),
    ("/link_chain", 200, b"hello\n"),
    ("/link_dir/inner.txt", 200, b"inner\n"),
    ("/link_dir/", 200, b"<p>dir</p>\n"),
    ("/link_deep_up", 200, b"inner\n"),
    ("/dir/up/a.txt", 200, b"hello\n"),
    ("/dir/up/dir/up/link_in", 200, b"hello\n"),
    ("/link_absolute_in", 403, None),
    ("/link_absolute_out", 403, None),
    ("/link_out", 403, None),
    ("/link_out_dir/secret", 403, None),
    ("/link_out_dotdot", 403, None),
    ("/dir/up_up/outside/secret", 403, None),
    ("/loop_a", 403, None),
    ("/dangling", 404, None),
    ("/a.txt/x", 404, None),
]


def case_no_openat2_startup(args, results, scratch):
    root = ts.make_root(os.path.join(scratch, "startup-root"))
    for errno_name, cause in (("ENOSYS", "Function not implemented"),
                              ("EPERM", "Operation not permitted")):
        env = shim(scratch, "no_openat2", NO_OPENAT2_ERRNO=errno_name)
        for config in ("iterative", "multiplex", "prefork --workers 2"):
            server = ts.Server(args.bin_dir, config, root=root, env=env)
            status, _, body = ts.get(server, "/a.txt")
            code = server.stop()
            lines = server.stderr.decode(errors="replace").splitlines()
            results.check(f"no-openat2-startup {config} ({errno_name}): one line naming "
                          "openat2, GET /a.txt 200, exit 0",
                          len(lines) == 1 and f"openat2: {cause}" in lines[0]
                          and status == 200 and body == b"hello\n" and code == 0,
                          f"stderr {lines}, status {status}, exit {code}")
    server = ts.Server(args.bin_dir, "iterative", root=root)
    server.stop()
    results.check("no-openat2-startup: with openat2, nothing on stderr",
                  server.stderr == b"", f"stderr {server.stderr[:200]!r}")


def case_no_openat2_walk(args, results, scratch):
    root = make_link_root(os.path.join(scratch, "walk"))
    env = shim(scratch, "no_openat2")
    for label, environment in (("openat2", None), ("walk", env)):
        server = ts.Server(args.bin_dir, "iterative", root=root, env=environment)
        wrong = []
        for path, status, body in WALK_TABLE:
            got_status, _, got_body = ts.get(server, path)
            if got_status != status or (body is not None and got_body != body) \
                    or b"SECRET" in got_body:
                wrong.append(f"{path}: {got_status} {got_body[:40]!r}, expected {status}")
        server.stop()
        results.check(f"no-openat2-walk ({label}): {len(WALK_TABLE)} requests through links",
                      not wrong, "; ".join(wrong))


def blackbox_cases():
    """The black-box suite's case names, read from its table."""
    path = os.path.join(HERE, "..", "blackbox", "run.py")
    spec = importlib.util.spec_from_file_location("blackbox_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [case[0] for case in module.CASES]


def case_no_openat2_blackbox(args, results, scratch):
    names = [name for name in blackbox_cases() if name not in BLACKBOX_LEFT_OUT]
    env = shim(scratch, "no_openat2")
    argv = [sys.executable, os.path.join(HERE, "..", "blackbox", "run.py"),
            "--bin-dir", args.bin_dir, "--case", ",".join(names)]
    for config in BLACKBOX_CONFIGS:
        argv += ["--server", config]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    results.check(f"no-openat2-blackbox {' / '.join(BLACKBOX_CONFIGS)}: {last} "
                  f"({len(names)} cases; left out: {', '.join(BLACKBOX_LEFT_OUT)})",
                  done.returncode == 0 and " 0 failed" in last,
                  "; ".join(failures[:10]) or done.stderr[-500:])


def case_old_uring_blackbox(args, results, scratch):
    env = shim(scratch, "old_uring")
    names = [name for name in blackbox_cases() if name not in BLACKBOX_LEFT_OUT]
    done = subprocess.run([sys.executable, os.path.join(HERE, "..", "blackbox", "run.py"),
                           "--bin-dir", args.bin_dir, "--server", "coroutine --io uring",
                           "--case", ",".join(names)],
                          env=env, capture_output=True, text=True, timeout=600)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    results.check(f"old-uring-blackbox coroutine --io uring: {last}",
                  done.returncode == 0 and " 0 failed" in last,
                  "; ".join(failures[:10]) or done.stderr[-500:])


def doctor(args, scratch, env=None, build=None):
    """Run scripts/doctor.py, its probe built in scratch: (exit status, stdout)."""
    done = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "scripts", "doctor.py"),
                           "--build", build or os.path.join(scratch, "doctor-build"),
                           "--bin-dir", args.bin_dir],
                          env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def feature_row(output, title):
    """The table's row for a feature: (here, rest of the line), or None."""
    for line in output.splitlines():
        if line.strip().startswith(title + "  "):      # the table pads titles to 40
            words = line.strip()[len(title):].split(None, 1)
            return words[0], (words[1] if len(words) > 1 else "")
    return None


def case_doctor_here(args, results, scratch):
    import importlib
    sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
    titles = [title for _, title, _, _ in importlib.import_module("doctor").FEATURES]
    status, output = doctor(args, scratch)
    rows = {title: feature_row(output, title) for title in titles}
    unprobed = [title for title, row in rows.items() if row is None or row[0] not in ("yes", "no")]
    # (Here io_uring is there, so its own features are probed too: no "n/a".)
    results.check(f"doctor-here: exit 0, {len(titles)} features probed",
                  status == 0 and not unprobed and "make test can pass here" in output,
                  f"status {status}, not probed {unprobed}: {output[-800:]}")


# (shim, settings, [(feature title, expected 'here'), ...], words the output must have)
DOCTOR_SHIMS = [
    ("no_openat2", {}, [("openat2 + RESOLVE_BENEATH", "no")],
     ["files served by the walk", "Function not implemented"]),
    ("no_openat2", {"NO_OPENAT2_ERRNO": "EPERM"}, [("openat2 + RESOLVE_BENEATH", "no")],
     ["Operation not permitted"]),
    # Where io_uring is missing, the doctor quotes the server's own line.
    ("no_uring", {}, [("io_uring", "no")],
     ["lab 08 step 6 (readiness and completion): step 6 (--io uring): coroutine: --io uring: "
      "io_uring unavailable: io_uring_setup: Function not implemented",
      "make check: the `coroutine --io uring` lines",
      "make bench: the --io uring rows (coroutine, floor): left out"]),
    ("no_uring", {"NO_URING_ERRNO": "EPERM"}, [("io_uring", "no")],
     ["io_uring_setup: Operation not permitted (sysctl kernel.io_uring_disabled"]),
    ("old_uring", {}, [("io_uring", "yes"), ("io_uring SINGLE_ISSUER + DEFER_TASKRUN", "no"),
                       ("io_uring provided buffer ring", "no")],
     ["sets its ring up without them", "idle waits are polls"]),
]


def case_doctor_shims(args, results, scratch):
    build = os.path.join(scratch, "doctor-build")
    doctor(args, scratch, build=build)               # the probe, built once without a shim
    for name, settings, rows, words in DOCTOR_SHIMS:
        env = shim(scratch, name, **settings)
        status, output = doctor(args, scratch, env=env, build=build)
        wrong = [f"{title}: {feature_row(output, title)}, expected {here}"
                 for title, here in rows if (feature_row(output, title) or ("",))[0] != here]
        wrong += [f"no {word!r}" for word in words if word not in output]
        label = " ".join([name] + [f"{k}={v}" for k, v in settings.items()])
        results.check(f"doctor-shims {label}: reported, exit 0", status == 0 and not wrong,
                      f"status {status}; {'; '.join(wrong)}")


def case_doctor_no_compiler(args, results, scratch):
    env = dict(os.environ, CC="no-such-compiler")
    status, output = doctor(args, scratch, env=env,
                            build=os.path.join(scratch, "doctor-empty"))
    results.check("doctor-no-compiler: the probe cannot be built: exit 1, and it says why",
                  status == 1 and "make test cannot pass here" in output
                  and "no-such-compiler" in output, f"status {status}: {output[-400:]}")


CASES = {
    "no-openat2-startup": case_no_openat2_startup,
    "no-openat2-walk": case_no_openat2_walk,
    "no-openat2-blackbox": case_no_openat2_blackbox,
    "old-uring-blackbox": case_old_uring_blackbox,
    "doctor-here": case_doctor_here,
    "doctor-shims": case_doctor_shims,
    "doctor-no-compiler": case_doctor_no_compiler,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=os.path.join(ts.ROOT, "build", "bin"))
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    args.bin_dir = os.path.abspath(args.bin_dir)
    wanted = [name for name in args.only.split(",") if name]
    unknown = [name for name in wanted if name not in CASES]
    if unknown:
        parser.error(f"no such case: {', '.join(unknown)}")
    results = ts.Results("doctor")
    scratch = tempfile.mkdtemp(prefix="doctor-")
    try:
        for name, case in CASES.items():
            if not wanted or name in wanted:
                ts.run_check(results, name, case, args, results, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
