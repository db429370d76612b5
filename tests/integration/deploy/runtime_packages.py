#!/usr/bin/python3
"""TAP: the container's runtime stage installs exactly what bqlua loads.

Usage: runtime_packages.py BQLUA DOCKERFILE

No Docker engine runs here, so the image is checked from the outside: the
runtime package list is derived from `ldd BQLUA` (the libraries the loader
maps), MariaDB Connector/C's plugin directory (mysql_clear_password.so sends
the RDS IAM token), libcurl4 (dlopen()ed at run time by src/curl_lazy.c, so
ldd does not show it) and ca-certificates, each file mapped to its Debian
package with dpkg -S; the Dockerfile's runtime-stage `apt-get install` line
must name exactly that set. Then the shape of the Dockerfile (multi-stage on
bookworm-slim, non-root, ENTRYPOINT ["bqlua"], the RDS bundle from the build
context, nothing downloaded) and of .dockerignore, and an estimate of the
image size from the packages' Installed-Size (dpkg-query / apt-cache show),
reported against the 40 MB target.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok, note  # noqa: E402

BQLUA, DOCKERFILE = bqtest.args("BQLUA", "DOCKERFILE")
REPO = os.path.dirname(os.path.dirname(DOCKERFILE))


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def package_of(path):
    """The Debian package owning path (tries the path as given and resolved:
    usrmerge means /lib/x and /usr/lib/x are one file registered once)."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        if p.startswith("/lib"):
            cands.append("/usr" + p)
        elif p.startswith("/usr/lib"):
            cands.append(p[4:])
    for p in cands:
        r = run("dpkg", "-S", p)
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


# --- what bqlua loads ------------------------------------------------------------

derived = {}            # package -> why
r = run("ldd", BQLUA)
ok(r.returncode == 0, "ldd runs on the built binary", r.stderr)

# The sanitizer runtimes of an ASan/UBSan test build (and what only they
# pull in, such as libstdc++) are not part of a release image: follow the
# DT_NEEDED graph from the binary without entering them.
SANITIZER = re.compile(r"lib(asan|ubsan|lsan|tsan|hwasan)\.so")
resolved = {}
for line in r.stdout.splitlines():
    m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
    if m:
        resolved[m.group(1)] = m.group(2)


def needed(path):
    out = run("readelf", "-d", path).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


reachable, todo = set(), [BQLUA]
while todo:
    for name in needed(todo.pop()):
        if SANITIZER.match(name) or name not in resolved or resolved[name] in reachable:
            continue
        reachable.add(resolved[name])
        todo.append(resolved[name])

for line in r.stdout.splitlines():
    m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
    if not m:
        continue                       # linux-vdso: the kernel's
    lib = m.group(2) if m.lastindex == 2 else m.group(1)
    if m.lastindex == 2 and lib not in reachable:
        continue                       # only a sanitizer runtime needs it
    pkg = package_of(lib)
    ok(pkg is not None, f"ldd: {lib} belongs to a Debian package", line)
    if pkg:
        derived.setdefault(pkg, []).append(os.path.basename(lib))

with open(BQLUA, "rb") as f:
    binary = f.read()
ok(b"libcurl.so.4" in binary and "libcurl" not in r.stdout,
   "libcurl is not linked but dlopen()ed as libcurl.so.4 (so ldd cannot show it)")
curl = None
for line in run("ldconfig", "-p").stdout.splitlines():
    m = re.match(r"\s*libcurl\.so\.4 \(([^)]*)\) => (\S+)", line)
    if m and "x86-64" in m.group(1) or (m and os.uname().machine not in ("x86_64",)):
        curl = m.group(2)
        break
pkg = package_of(curl) if curl else None
ok(pkg == "libcurl4", "libcurl.so.4 comes from libcurl4 (the OpenSSL flavour bqlua is built against)", f"{curl} -> {pkg}")
if pkg:
    derived.setdefault(pkg, []).append("libcurl.so.4 (dlopen)")

r = run("mariadb_config", "--plugindir")
plugindir = r.stdout.strip() if r.returncode == 0 else ""
if not plugindir:          # no -dev package: ask dpkg where libmariadb3 put it
    plugindir = next((os.path.dirname(l) for l in run("dpkg", "-L", "libmariadb3").stdout.splitlines()
                      if l.endswith("/mysql_clear_password.so")), "")
plugin = os.path.join(plugindir, "mysql_clear_password.so")
ok(os.path.isfile(plugin), "MariaDB Connector/C's mysql_clear_password.so is in its plugin directory", plugin)
pkg = package_of(plugin)
ok(pkg is not None, "the plugin directory belongs to a package", plugin)
if pkg:
    derived.setdefault(pkg, []).append(os.path.basename(plugin) + " (plugin)")
derived.setdefault("ca-certificates", []).append("/etc/ssl/certs (S3, STS, credential endpoints)")
note("derived runtime packages:")
for p in sorted(derived):
    note(f"  {p:18} {', '.join(derived[p])}")

# --- the Dockerfile ----------------------------------------------------------------

with open(DOCKERFILE) as f:
    text = f.read()
logical = re.sub(r"\\\n", " ", text)          # join continuation lines
lines = [l.strip() for l in logical.splitlines() if l.strip() and not l.strip().startswith("#")]
stages = []
for l in lines:
    m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", l, re.I)
    if m:
        stages.append({"from": m.group(1), "name": (m.group(2) or "").lower(), "lines": []})
    elif stages:
        stages[-1]["lines"].append(l)
args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))


def base(s):
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)


ok(len(stages) >= 2, "the Dockerfile is multi-stage", [s["from"] for s in stages])
ok(all(base(s["from"]) == "debian:bookworm-slim" or base(s["from"]) in [t["name"] for t in stages]
       for s in stages), "every stage starts from debian:bookworm-slim", [base(s["from"]) for s in stages])
rt = stages[-1] if stages else {"lines": [], "name": ""}
installs = []
for l in rt["lines"]:
    for m in re.finditer(r"apt-get\s+install\s+(.*?)(?:&&|;|$)", l):
        installs += [t for t in m.group(1).split() if not t.startswith("-")]
installed = set(installs)
ok(set(derived) == installed, "the runtime stage installs exactly the derived packages",
   f"missing from the Dockerfile: {sorted(set(derived) - installed)}\n"
   f"installed but not loaded: {sorted(installed - set(derived))}")
ok(any("--no-install-recommends" in l for l in rt["lines"] if "apt-get" in l),
   "the runtime apt-get skips recommended packages")
ok(any(re.match(r"COPY\s+--from=\S+\s+\S*bqlua\s", l) for l in rt["lines"]),
   "the runtime stage copies only the built binary from the build stage")
ok(not any(re.search(r"apt-get\s+install.*\b(gcc|meson|-dev)\b", l) for l in rt["lines"]),
   "no compiler or -dev package in the runtime stage")
user = [l.split(None, 1)[1] for l in rt["lines"] if l.upper().startswith("USER ")]
ok(user and user[-1].split(":")[0] not in ("0", "root"), "the runtime stage runs as a non-root user", user)
ok(any(re.fullmatch(r'ENTRYPOINT\s+\[\s*"bqlua"\s*\]', l) for l in rt["lines"]), 'ENTRYPOINT ["bqlua"]')
bundle = [l for l in rt["lines"] if l.startswith("COPY") and "rds-global-bundle.pem" in l]
ok(bundle and "${RDS_CA_BUNDLE}" in bundle[0] and re.search(r"^ARG RDS_CA_BUNDLE=", text, re.M),
   "the RDS global-bundle.pem comes from a build argument (a file in the build context)", bundle)
ok(not re.search(r"\b(curl|wget|ADD\s+https?://)", "\n".join(l for l in lines if not l.startswith("FROM"))
                 .replace("libcurl4-openssl-dev", "").replace("libcurl4", "")),
   "the build downloads nothing but Debian packages")
di = os.path.join(REPO, ".dockerignore")
ok(os.path.isfile(di), ".dockerignore exists at the build context's top")
if os.path.isfile(di):
    rules = open(di).read()
    ok(re.search(r"^\*$", rules, re.M) and "!src/" in rules and "node_modules" in rules,
       ".dockerignore lets in the sources only (no build dirs, no node_modules)", rules)

# --- the size estimate ---------------------------------------------------------------

# debian:bookworm-slim's own packages (its dpkg -l, amd64, 2024-2025 builds):
# already in the base image, so they add nothing to the runtime layer.
BOOKWORM_SLIM = set("""
apt base-files base-passwd bash bsdutils coreutils dash debconf debian-archive-keyring debianutils
diffutils dpkg findutils gcc-12-base gpgv grep gzip hostname init-system-helpers libacl1
libapt-pkg6.0 libattr1 libaudit-common libaudit1 libblkid1 libbz2-1.0 libc-bin libc6 libcap-ng0
libcap2 libcom-err2 libcrypt1 libdb5.3 libdebconfclient0 libffi8 libgcc-s1 libgcrypt20 libgmp10
libgnutls30 libgpg-error0 libhogweed6 libidn2-0 liblz4-1 liblzma5 libmd0 libmount1 libnettle8
libp11-kit0 libpam-modules libpam-modules-bin libpam-runtime libpam0g libpcre2-8-0 libseccomp2
libselinux1 libsemanage-common libsemanage2 libsepol2 libsmartcols1 libstdc++6 libsystemd0
libtasn1-6 libtinfo6 libudev1 libunistring2 libuuid1 libxxhash0 libzstd1 login logsave mawk mount
ncurses-base ncurses-bin passwd perl-base sed sysvinit-utils tar tzdata usr-is-merged util-linux
util-linux-extra zlib1g
""".split())


def show(pkg):
    r = run("dpkg-query", "-W", "-f=${Installed-Size}\t${Pre-Depends}\t${Depends}\t${Status}", pkg)
    if r.returncode == 0 and "ok installed" in r.stdout:
        size, pre, dep, _ = r.stdout.split("\t")
    else:
        r = run("apt-cache", "show", "--no-all-versions", pkg)
        if r.returncode != 0 or not r.stdout.strip():
            return None
        f = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition(": ")
            if k in ("Installed-Size", "Depends", "Pre-Depends"):
                f[k] = v
        size, pre, dep = f.get("Installed-Size", "0"), f.get("Pre-Depends", ""), f.get("Depends", "")
    deps = []
    for group in filter(None, (g.strip() for g in (pre + "," + dep).split(","))):
        alts = [re.split(r"[\s(:]", a.strip())[0] for a in group.split("|")]
        # apt takes an alternative already present, else the first one
        deps.append(next((a for a in alts if a in BOOKWORM_SLIM), alts[0]))
    return int(size or 0), deps


added, seen, todo, unknown = {}, set(), sorted(installed), []
while todo:
    p = todo.pop()
    if p in seen:
        continue
    seen.add(p)
    if p in BOOKWORM_SLIM:
        continue
    info = show(p)
    if info is None:
        unknown.append(p)          # a virtual package (debconf-2.0): provided by the base
        continue
    added[p] = info[0]
    todo += info[1]
bin_kb = os.path.getsize(BQLUA) // 1024
base_kb = sum((show(p) or (0, []))[0] for p in BOOKWORM_SLIM)
added_kb = sum(added.values()) + bin_kb + 200          # + the RDS bundle (~160 kB)
report = [f"runtime layer: {len(added)} packages beyond bookworm-slim, {sum(added.values()) / 1024:.1f} MB installed:"]
report += [f"  {p:22} {kb / 1024:6.2f} MB" for p, kb in sorted(added.items(), key=lambda x: -x[1])]
report += [f"  bqlua binary {bin_kb / 1024:.2f} MB (unstripped here; the image strips it), RDS bundle ~0.2 MB",
           f"added by bqlua's image: ~{added_kb / 1024:.1f} MB uncompressed (target <= 40 MB)",
           f"bookworm-slim itself: ~{base_kb / 1024:.1f} MB by Installed-Size (an overestimate: slim drops docs, "
           f"man pages and locales; the image is ~75 MB, ~28 MB compressed)",
           f"whole image: ~{75 + added_kb / 1024:.0f} MB uncompressed, "
           f"~{28 + added_kb / 1024 / 2.5:.0f} MB compressed (layer at ~2.5:1)"]
if ok(added_kb / 1024 <= 40, "size: the runtime layer adds at most 40 MB to bookworm-slim", "\n".join(report)):
    note("\n".join(report))      # the estimate, also when it passes
sys.exit(bqtest.done())
