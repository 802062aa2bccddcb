import { arch } from 'node:process';
import { E } from '@conga/common';

/**
 * Seccomp for containers (OCI linux.seccomp). Conga's default profile is a deny-list written
 * for Conga: everything is allowed except the syscalls that reach the host kernel's global
 * state (modules, kexec, keyrings, clock, swap, reboot, accounting), new namespaces (notably user
 * namespaces, which would let a container regain capabilities) and a few old or risky interfaces.
 * A blocked syscall fails with EPERM. Syscalls guarded by a capability are allowed again when
 * the container has that capability. Internal to the executor; may grow.
 */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: SeccompRule[];
}

export interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

const EPERM = 1;
const ENOSYS = 38;

/** Always refused (no capability makes them safe in a container). */
const ALWAYS_DENIED = [
  'kexec_load', 'kexec_file_load', 'create_module', 'get_kernel_syms', 'query_module', 'nfsservctl',
  'uselib', 'ustat', 'sysfs', '_sysctl', 'vm86', 'vm86old', 'lookup_dcookie', 'userfaultfd',
  'add_key', 'request_key', 'keyctl',
];

/** Refused unless the container holds the capability. */
const CAP_GUARDED: Record<string, string[]> = {
  CAP_SYS_MODULE: ['init_module', 'finit_module', 'delete_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'adjtimex', 'clock_adjtime', 'clock_adjtime64'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYSLOG: ['syslog'],
  CAP_SYS_PTRACE: ['process_vm_readv', 'process_vm_writev', 'kcmp'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'mount', 'umount', 'umount2', 'pivot_root', 'swapon', 'swapoff', 'quotactl', 'quotactl_fd', 'setns', 'unshare',
    'fanotify_init', 'name_to_handle_at', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'open_tree',
    'mount_setattr', 'setdomainname', 'sethostname', 'bpf', 'perf_event_open', 'lookup_dcookie',
  ],
};

/** clone's namespace flags: refused without CAP_SYS_ADMIN (one rule per bit). */
const CLONE_NS_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

function architectures(): string[] {
  if (arch === 'arm64') return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
  return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
}

/** Conga's default profile for a container with capabilities `caps` (CAP_ names). */
export function defaultSeccompProfile(caps: readonly string[]): SeccompProfile {
  const have = new Set(caps);
  const denied = new Set(ALWAYS_DENIED);
  for (const [cap, names] of Object.entries(CAP_GUARDED)) if (!have.has(cap)) for (const n of names) denied.add(n);
  // bpf and perf_event_open also open up with their own newer capabilities.
  if (have.has('CAP_BPF')) denied.delete('bpf');
  if (have.has('CAP_PERFMON')) denied.delete('perf_event_open');
  const syscalls: SeccompRule[] = [{ names: [...denied].sort(), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }];
  if (!have.has('CAP_SYS_ADMIN')) {
    for (const bit of CLONE_NS_FLAGS) {
      syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: arch === 's390x' ? 1 : 0, value: bit, valueTwo: bit, op: 'SCMP_CMP_MASKED_EQ' }] });
    }
    // clone3 takes its flags in a struct seccomp cannot inspect: ENOSYS makes libc fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: architectures(), syscalls };
}

const ACTIONS = new Set(['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG']);
const OPS = new Set(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

/**
 * A user profile in docker's JSON format (defaultAction, architectures or archMap, syscalls with
 * names/name, action, errnoRet, args, includes/excludes.caps) turned into the OCI form.
 */
export function parseSeccompProfile(json: string, caps: readonly string[]): SeccompProfile {
  let p: any;
  try {
    p = JSON.parse(json);
  } catch (e) {
    throw E.InvalidArgument(`the seccomp profile is not valid JSON: ${(e as Error).message}`);
  }
  if (!p || typeof p !== 'object' || !ACTIONS.has(p.defaultAction)) throw E.InvalidArgument('the seccomp profile needs a defaultAction such as SCMP_ACT_ERRNO or SCMP_ACT_ALLOW');
  const have = new Set(caps);
  let archs: string[] = Array.isArray(p.architectures) ? p.architectures : [];
  if (Array.isArray(p.archMap)) {
    const native = architectures()[0];
    const m = p.archMap.find((a: any) => a?.architecture === native);
    if (m) archs = [m.architecture, ...(m.subArchitectures ?? [])];
  }
  const syscalls: SeccompRule[] = [];
  for (const r of Array.isArray(p.syscalls) ? p.syscalls : []) {
    const names: string[] = Array.isArray(r.names) ? r.names : typeof r.name === 'string' ? [r.name] : [];
    if (!names.length) continue;
    if (!ACTIONS.has(r.action)) throw E.InvalidArgument(`seccomp rule for ${names[0]}: unknown action "${r.action}"`);
    const inc: string[] = r.includes?.caps ?? [];
    const exc: string[] = r.excludes?.caps ?? [];
    if (inc.length && !inc.every((c) => have.has(c))) continue;
    if (exc.length && exc.some((c) => have.has(c))) continue;
    if (r.includes?.arches?.length && !r.includes.arches.some((a: string) => archs.includes(`SCMP_ARCH_${a.toUpperCase()}`) || architectures()[0].toLowerCase().endsWith(a))) continue;
    const args = (Array.isArray(r.args) ? r.args : []).map((a: any) => {
      if (!OPS.has(a?.op) || !Number.isInteger(a.index)) throw E.InvalidArgument(`seccomp rule for ${names[0]}: invalid argument condition`);
      return { index: a.index, value: Number(a.value ?? 0), ...(a.valueTwo ? { valueTwo: Number(a.valueTwo) } : {}), op: a.op };
    });
    syscalls.push({ names, action: r.action, ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}), ...(args.length ? { args } : {}) });
  }
  return { defaultAction: p.defaultAction, ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}), ...(archs.length ? { architectures: archs } : {}), syscalls };
}

/** The profile for a request: "" default, "unconfined" none, else a JSON profile. */
export function seccompFor(request: string, caps: readonly string[]): SeccompProfile | undefined {
  const r = request.trim();
  if (r === 'unconfined') return undefined;
  if (r === '' || r === 'default' || r === 'builtin') return defaultSeccompProfile(caps);
  return parseSeccompProfile(r, caps);
}
