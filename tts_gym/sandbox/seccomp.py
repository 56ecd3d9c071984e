"""A seccomp filter: what a sandboxed process may not ask of the kernel, whatever code asks.

Linux on x86-64 and arm64.
"""

from __future__ import annotations

import ctypes
import platform

from tts_gym.sandbox.confine import PR_SET_NO_NEW_PRIVS
from tts_gym.sandbox.confine import libc as _libc

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_THREAD = 0x00010000
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7, "arm64": 0xC00000B7}
# the syscalls refused, per machine (arm64 has no fork, vfork or mknod of its own)
_DENIED_SYSCALLS = {
    # fork, vfork, execve, execveat, mknod, mknodat, ptrace, process_vm_readv/writev
    "x86_64": (57, 58, 59, 322, 133, 259, 101, 310, 311),
    "aarch64": (221, 281, 33, 117, 270, 271),
}
_CLONE = {"x86_64": 56, "aarch64": 220}
_CLONE3 = 435  # its flags sit behind a pointer: answered ENOSYS, so libc falls back to clone
_X32_SYSCALL_BIT = 0x40000000


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38


def seccomp_no_processes() -> str | None:
    """Refuse fork, exec, mknod (fifos) and ptrace at the kernel (threads stay allowed).

    Linux on x86-64 and arm64; returns a description, or None where unavailable.
    """
    libc = _libc()
    machine = platform.machine()
    machine = "aarch64" if machine == "arm64" else machine
    if libc is None or machine not in _DENIED_SYSCALLS:
        return None
    denied = _DENIED_SYSCALLS[machine]
    # Jump offsets count from the next instruction; the last three are the verdicts.
    program: list[tuple[int, int, int, int]] = [(_LD_ABS, 0, 0, 4)]  # arch
    body: list[tuple[int, str | int, str | int, int]] = [
        (_JEQ, 0, "deny", _AUDIT_ARCH[machine]),
        (_LD_ABS, 0, 0, 0),  # syscall number
    ]
    if machine == "x86_64":
        body.append((_JGE, "deny", 0, _X32_SYSCALL_BIT))
    body += [(_JEQ, "deny", 0, nr) for nr in denied]
    body += [
        (_JEQ, "nosys", 0, _CLONE3),
        (_JEQ, 0, "allow", _CLONE[machine]),
        (_LD_ABS, 0, 0, 16),  # clone's flags (low word of the first argument)
        (_JSET, "allow", "deny", _CLONE_THREAD),
    ]
    end = len(program) + len(body)
    targets = {"deny": end, "allow": end + 1, "nosys": end + 2}
    for index, (code, jt, jf, k) in enumerate(body, start=len(program)):
        here = index + 1
        jt = targets[jt] - here if isinstance(jt, str) else jt
        jf = targets[jf] - here if isinstance(jf, str) else jf
        program.append((code, jt, jf, k))
    program += [(_RET, 0, 0, _EPERM), (_RET, 0, 0, _ALLOW), (_RET, 0, 0, _ENOSYS)]
    filters = (_SockFilter * len(program))(*[_SockFilter(*item) for item in program])
    fprog = _SockFprog(len(program), filters)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return None
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return None
    return "seccomp (no fork, exec, mknod, ptrace)"
