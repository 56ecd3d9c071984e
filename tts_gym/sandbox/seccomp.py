"""A seccomp filter: what a sandboxed process may not ask of the kernel, whatever code asks.

Installed by each session before the candidate's code runs (Linux on x86-64 and arm64). It
refuses (`EPERM`):

- new processes and programs (fork, vfork, exec, clone without `CLONE_THREAD`; `clone3` is
  answered `ENOSYS`, so libc falls back to `clone`), ptrace and reading or writing another
  process's memory, fifos and device nodes;
- anything aimed at another process: scheduling (`sched_setaffinity`, `sched_setscheduler`,
  `sched_setattr`, ...), priority (`setpriority`, `ioprio_set`), limits (`prlimit64`),
  signals (`kill`, `tgkill`, `rt_sigqueueinfo`, ...), pidfds, `kcmp`, page migration: these
  are allowed on the process itself only (pid 0 or its own), reads included, so no other
  pid can be probed either;
- channels between sandboxed processes: System V IPC, POSIX message queues, new sockets,
  file locks (`flock`, `fcntl` locks and leases);
- the system's own state: mounts and namespaces, modules, keys, bpf, perf, io_uring (which
  would bypass this filter), clocks, host and domain names, reboot, swap, quotas.

The filter knows the process's own pid, so it is installed after the fork.
"""

from __future__ import annotations

import ctypes
import os
import platform

from tts_gym.sandbox.confine import PR_SET_NO_NEW_PRIVS
from tts_gym.sandbox.confine import libc as _libc

DESCRIPTION = (
    "seccomp (no fork, exec, ptrace, fifos, sockets, file locks or System V IPC; scheduling, "
    "priority, limits and signals on itself only)"
)
_PR_GET_SECCOMP, _PR_SET_SECCOMP = 21, 22
_SECCOMP_MODE_FILTER = 2
_CLONE_THREAD = 0x00010000
_X32_SYSCALL_BIT = 0x40000000
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SYSCALLS = {  # name: (x86-64, arm64); None where the machine has no such call
    "fork": (57, None), "vfork": (58, None), "execve": (59, 221), "execveat": (322, 281),
    "mknod": (133, None), "mknodat": (259, 33), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "clone": (56, 220), "clone3": (435, 435),
    "setpriority": (141, 140), "getpriority": (140, 141),
    "sched_setparam": (142, 118), "sched_getparam": (143, 121),
    "sched_setscheduler": (144, 119), "sched_getscheduler": (145, 120),
    "sched_setaffinity": (203, 122), "sched_getaffinity": (204, 123),
    "sched_setattr": (314, 274), "sched_getattr": (315, 275),
    "ioprio_set": (251, 30), "ioprio_get": (252, 31), "prlimit64": (302, 261),
    "migrate_pages": (256, 238), "move_pages": (279, 239), "get_robust_list": (274, 100),
    "kill": (62, 129), "tkill": (200, 130), "tgkill": (234, 131),
    "rt_sigqueueinfo": (129, 138), "rt_tgsigqueueinfo": (297, 240),
    "pidfd_open": (434, 434), "pidfd_send_signal": (424, 424), "pidfd_getfd": (438, 438),
    "process_madvise": (440, 440), "process_mrelease": (448, 448), "kcmp": (312, 272),
    "setpgid": (109, 154), "setsid": (112, 157),
    "shmget": (29, 194), "shmat": (30, 196), "shmdt": (67, 197), "shmctl": (31, 195),
    "semget": (64, 190), "semop": (65, 193), "semctl": (66, 191), "semtimedop": (220, 192),
    "msgget": (68, 186), "msgsnd": (69, 189), "msgrcv": (70, 188), "msgctl": (71, 187),
    "mq_open": (240, 180), "mq_unlink": (241, 181), "mq_timedsend": (242, 182),
    "mq_timedreceive": (243, 183), "mq_notify": (244, 184), "mq_getsetattr": (245, 185),
    "socket": (41, 198), "socketpair": (53, 199), "flock": (73, 32), "fcntl": (72, 25),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "unshare": (272, 97), "setns": (308, 268), "mount_setattr": (442, 442),
    "fsopen": (430, 430), "fsmount": (432, 432), "move_mount": (429, 429),
    "open_tree": (428, 428), "fsconfig": (431, 431), "fspick": (433, 433),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264),
    "swapon": (167, 224), "swapoff": (168, 225), "quotactl": (179, 60),
    "sethostname": (170, 161), "setdomainname": (171, 162), "acct": (163, 89),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "clock_adjtime": (305, 266),
    "adjtimex": (159, 171), "fanotify_init": (300, 262),
}  # fmt: skip
_DENIED = (
    "fork", "vfork", "execve", "execveat", "mknod", "mknodat", "ptrace", "process_vm_readv",
    "process_vm_writev", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "process_madvise",
    "process_mrelease", "kcmp", "setpgid", "setsid", "shmget", "shmat", "shmdt", "shmctl",
    "semget", "semop", "semctl", "semtimedop", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr", "socket",
    "socketpair", "flock", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "mount_setattr", "fsopen", "fsmount", "move_mount", "open_tree", "fsconfig", "fspick", "bpf",
    "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "reboot", "open_by_handle_at", "name_to_handle_at", "swapon",
    "swapoff", "quotactl", "sethostname", "setdomainname", "acct", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "fanotify_init",
)  # fmt: skip
_PID_ARGUMENT = (  # calls whose first argument is the pid they act on
    "sched_setparam", "sched_getparam", "sched_setscheduler", "sched_getscheduler",
    "sched_setaffinity", "sched_getaffinity", "sched_setattr", "sched_getattr", "prlimit64",
    "migrate_pages", "move_pages", "get_robust_list", "tkill", "tgkill", "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
)  # fmt: skip
_SELF = "self"  # stands for {0, the process's own pid} in a condition
_ONLY_ON_ITSELF = {  # allowed only when every (argument, values) holds
    "setpriority": ((0, (0,)), (1, _SELF)),  # PRIO_PROCESS, itself
    "getpriority": ((0, (0,)), (1, _SELF)),
    "ioprio_set": ((0, (1,)), (1, _SELF)),  # IOPRIO_WHO_PROCESS, itself
    "ioprio_get": ((0, (1,)), (1, _SELF)),
    **{name: ((0, _SELF),) for name in _PID_ARGUMENT},
    "kill": ((0, ("own",)),),  # its own pid only: 0 and -1 would reach the process group
}
_LOCKS = (5, 6, 7, 36, 37, 38, 1024, 1026)  # F_GETLK F_SETLK(W) F_OFD_*LK(W) F_SETLEASE F_NOTIFY
_NEVER = {"fcntl": (1, _LOCKS)}  # refused when the argument is one of these

# classic BPF, the instructions used here
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
_NR, _ARCH = 0, 4


def _argument(index: int) -> int:
    """Offset of the low 32 bits of argument `index` in `struct seccomp_data`."""
    return 16 + 8 * index


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def program(machine: str, pid: int) -> list[tuple[int, int, int, int]]:
    """The filter for `machine` in a process whose pid is `pid`: (code, jt, jf, k) each.

    Written with labels (None is the next instruction) and assembled into the relative,
    forward-only jumps of BPF: a dispatch on the syscall number first, then the checks of
    the calls allowed on the process itself, each ending in its own verdicts.
    """
    column = 0 if machine == "x86_64" else 1
    number = {name: numbers[column] for name, numbers in _SYSCALLS.items()}
    code: list[tuple | str] = [(_LD_ABS, _ARCH), (_JEQ, _AUDIT_ARCH[machine], None, "deny")]
    code.append((_LD_ABS, _NR))
    if machine == "x86_64":
        code.append((_JGE, _X32_SYSCALL_BIT, "deny", None))
    code += [(_JEQ, number[name], "deny", None) for name in _DENIED if number[name] is not None]
    code.append((_JEQ, number["clone3"], "nosys", None))
    code.append((_JEQ, number["clone"], "clone", None))
    code += [(_JEQ, number[name], name, None) for name in (*_ONLY_ON_ITSELF, *_NEVER)]
    code += [(_RET, _ALLOW), "deny", (_RET, _EPERM), "nosys", (_RET, _ENOSYS)]
    code += ["clone", (_LD_ABS, _argument(0)), (_JSET, _CLONE_THREAD, "thread", None)]
    code += [(_RET, _EPERM), "thread", (_RET, _ALLOW)]
    values = {_SELF: (0, pid), ("own",): (pid,)}
    for name, conditions in _ONLY_ON_ITSELF.items():
        code.append(name)
        for arg, allowed in conditions:
            allowed = values.get(allowed, allowed)
            code.append((_LD_ABS, _argument(arg)))
            code += [(_JEQ, value, f"{name}+{arg}", None) for value in allowed]
            code += [(_RET, _EPERM), f"{name}+{arg}"]
        code.append((_RET, _ALLOW))
    for name, (arg, refused) in _NEVER.items():
        code += [name, (_LD_ABS, _argument(arg))]
        code += [(_JEQ, value, f"{name}-refused", None) for value in refused]
        code += [(_RET, _ALLOW), f"{name}-refused", (_RET, _EPERM)]
    return _assemble(code)


def _assemble(code: list) -> list[tuple[int, int, int, int]]:
    """Resolve labels to the relative offsets BPF jumps take (from the next instruction)."""
    labels: dict[str, int] = {}
    instructions = []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(instructions)
        else:
            instructions.append(item)

    def offset(label: str | None, here: int) -> int:
        return 0 if label is None else labels[label] - here - 1

    assembled = []
    for here, item in enumerate(instructions):
        op = item[0]
        if op in (_LD_ABS, _RET):
            assembled.append((op, 0, 0, item[1]))
        else:
            _, k, jt, jf = item
            jt, jf = offset(jt, here), offset(jf, here)
            if not (0 <= jt < 256 and 0 <= jf < 256):
                raise AssertionError("a seccomp jump too far for BPF")
            assembled.append((op, jt, jf, k))
    return assembled


def _machine() -> str:
    return {"arm64": "aarch64", "AMD64": "x86_64"}.get(platform.machine(), platform.machine())


def available() -> bool:
    """Whether this kernel and machine can take the filter (asked without installing it)."""
    libc = _libc()
    return libc is not None and _machine() in _AUDIT_ARCH and libc.prctl(_PR_GET_SECCOMP) >= 0


def seccomp_no_processes() -> str | None:
    """Install the filter in this process; a description, or None where unavailable."""
    libc = _libc()
    machine = _machine()
    if libc is None or machine not in _AUDIT_ARCH:
        return None
    instructions = program(machine, os.getpid())
    filters = (_SockFilter * len(instructions))(*[_SockFilter(*i) for i in instructions])
    fprog = _SockFprog(len(instructions), filters)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return None
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return None
    return DESCRIPTION
