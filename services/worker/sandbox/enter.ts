/**
 * The program that takes a job from the worker (root) into the sandbox: it
 * moves itself into the job's cgroups, sets the rlimits, drops to the
 * slot's uid and gid with no supplementary groups and no capabilities, and
 * executes bubblewrap. It does in one program what the fallback chain does
 * with a shell, prlimit and setpriv, which costs three program starts per
 * job.
 *
 * Arguments: UID GID FSIZE NOFILE COUNT PROCS_FILE... PROGRAM [ARG...],
 * where COUNT is the number of cgroup.procs files that follow. It exits 125 when a
 * step fails, with a line on stderr that starts with "sandbox:", and 127 or
 * 126 when the program cannot be started. It checks every id and
 * capability set after the change, so a kernel that refused part of it
 * cannot start a job with privileges left.
 */
export const enterSource = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void fail(const char *step, const char *detail) {
  fprintf(stderr, "sandbox: %s%s%s failed: %s\n", step, detail ? " " : "", detail ? detail : "", strerror(errno));
  exit(125);
}

static unsigned long long number(const char *text, const char *name) {
  char *end = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
    fprintf(stderr, "sandbox: invalid %s \"%s\": expected a whole number\n", name, text);
    exit(125);
  }
  return value;
}

static void join_cgroup(const char *procs, const char *pid) {
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("joining cgroup", procs);
  ssize_t length = (ssize_t)strlen(pid);
  if (write(fd, pid, (size_t)length) != length) fail("joining cgroup", procs);
  close(fd);
}

static void limit(int resource, rlim_t value, const char *name) {
  struct rlimit both = { value, value };
  if (setrlimit(resource, &both) != 0) fail("setting", name);
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "sandbox: usage: faas-enter UID GID FSIZE NOFILE COUNT PROCS_FILE... PROGRAM [ARG...]\n");
    return 125;
  }
  uid_t uid = (uid_t)number(argv[1], "uid");
  gid_t gid = (gid_t)number(argv[2], "gid");
  rlim_t fsize = (rlim_t)number(argv[3], "file size limit");
  rlim_t nofile = (rlim_t)number(argv[4], "open file limit");
  unsigned long long count = number(argv[5], "count of procs files");
  if (uid == 0 || gid == 0) {
    fprintf(stderr, "sandbox: refusing to run a job as root\n");
    return 125;
  }
  if (count > (unsigned long long)(argc - 7)) {
    fprintf(stderr, "sandbox: expected %llu procs files and a program\n", count);
    return 125;
  }

  char pid[32];
  snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  for (unsigned long long index = 0; index < count; index++) join_cgroup(argv[6 + index], pid);

  limit(RLIMIT_FSIZE, fsize, "RLIMIT_FSIZE");
  limit(RLIMIT_NOFILE, nofile, "RLIMIT_NOFILE");
  limit(RLIMIT_CORE, 0, "RLIMIT_CORE");

  // Every capability of this kernel leaves the bounding set; reading one past the last fails with EINVAL.
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) fail("dropping capabilities from the bounding set", NULL);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) fail("clearing ambient capabilities", NULL);
  if (setgroups(0, NULL) != 0) fail("clearing supplementary groups", NULL);
  if (setresgid(gid, gid, gid) != 0) fail("changing group", NULL);
  if (setresuid(uid, uid, uid) != 0) fail("changing user", NULL);
  // Leaving root emptied the permitted and effective sets; the inheritable set is emptied here.
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) != 0) fail("clearing capabilities", NULL);

  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0) fail("reading ids", NULL);
  if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid || getgroups(0, NULL) != 0) {
    fprintf(stderr, "sandbox: the kernel left other ids in place\n");
    return 125;
  }
  if (syscall(SYS_capget, &header, data) != 0) fail("reading capabilities", NULL);
  for (int word = 0; word < 2; word++) {
    if (data[word].effective || data[word].permitted || data[word].inheritable) {
      fprintf(stderr, "sandbox: the kernel left capabilities in place\n");
      return 125;
    }
  }
  if (prctl(PR_CAPBSET_READ, 0, 0, 0, 0) != 0) {
    fprintf(stderr, "sandbox: the kernel left the bounding set in place\n");
    return 125;
  }

  const char *program = argv[6 + count];
  execvp(program, argv + 6 + count);
  int error = errno;
  fprintf(stderr, "sandbox: starting %s failed: %s\n", program, strerror(error));
  return error == ENOENT ? 127 : 126;
}
`;
