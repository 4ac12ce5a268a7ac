import Foundation

/// What a job's child does to itself before it reads a byte of the bundle: resource limits
/// (address space, CPU time, file size, open files, no core files), death with its parent (so
/// no orphan trains on after a kill -9 of the daemon and writes over a newer attempt's
/// checkpoint), and where the kernel allows, a seccomp filter that refuses the system calls a
/// parser or trainer never needs: sockets (no network), ptrace and other processes' memory,
/// namespaces, mounts, keyrings, BPF, perf and io_uring.
enum JobConfinement {
    /// Applies everything; returns what could not be applied, as sentences for the log.
    /// - Parameter parent: the daemon's pid; when the child's parent is already someone else,
    ///   the daemon died before the child could ask to die with it, and the child exits.
    static func apply(_ limits: JobLimits, parent: Int32) -> [String] {
        var missing: [String] = []
        umask(0o077)
        // The limits end the process with these signals (the daemon reports which); a parent
        // that ignored them would have passed that on.
        signal(SIGXFSZ, SIG_DFL)
        signal(SIGXCPU, SIG_DFL)
        func limit(_ resource: Int32, _ value: Int, name: String, hard: Int? = nil) {
            guard value > 0 else { return }
            var current = rlimit()
            getrlimit(resource, &current)
            let soft = rlim_t(value), ceiling = rlim_t(hard ?? value)
            var wanted = rlimit(rlim_cur: min(soft, current.rlim_max), rlim_max: min(ceiling, current.rlim_max))
            if setrlimit(resource, &wanted) != 0 { missing.append("\(name): \(String(cString: strerror(errno)))") }
        }
        limit(Int32(RLIMIT_AS.rawValue), limits.memory, name: "address-space limit")
        // SIGXCPU at the soft limit (the daemon reports it); the hard limit kills a child that ignored it.
        limit(Int32(RLIMIT_CPU.rawValue), limits.cpuSeconds, name: "CPU-time limit", hard: limits.cpuSeconds + 5)
        limit(Int32(RLIMIT_FSIZE.rawValue), limits.fileSize, name: "file-size limit")
        limit(Int32(RLIMIT_NOFILE.rawValue), limits.openFiles, name: "open-file limit")
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(Int32(RLIMIT_CORE.rawValue), &noCore)

        if prctl(1 /* PR_SET_PDEATHSIG */, UInt(SIGKILL)) != 0 { missing.append("death with the daemon: \(String(cString: strerror(errno)))") }
        // The daemon is already gone: end as PR_SET_PDEATHSIG would have had it died a moment later.
        if getppid() != parent { raise(SIGKILL) }
        if prctl(38 /* PR_SET_NO_NEW_PRIVS */, 1) != 0 {
            missing.append("no new privileges: \(String(cString: strerror(errno)))")
            return missing
        }
        if let failure = installSystemCallFilter() { missing.append(failure) }
        return missing
    }

    /// prctl(2). Glibc declares it variadic, which Swift cannot call; on the 64-bit Linux ABIs
    /// a variadic callee reads integer arguments from the same registers, so it is called
    /// through a fixed five-argument prototype looked up at run time.
    private static func prctl(_ option: Int32, _ a: UInt = 0, _ b: UInt = 0, _ c: UInt = 0, _ d: UInt = 0) -> Int32 {
        guard let function = prctlFunction else {
            errno = ENOSYS
            return -1
        }
        return function(option, a, b, c, d)
    }

    private static let prctlFunction: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32)? =
        dlsym(nil, "prctl").map { unsafeBitCast($0, to: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32).self) }

    /// One classic-BPF instruction (struct sock_filter).
    struct Instruction {
        var code: UInt16, jumpTrue: UInt8, jumpFalse: UInt8, k: UInt32
    }

    /// struct sock_fprog.
    private struct Program {
        var length: UInt16
        var filter: UnsafePointer<Instruction>
    }

    #if arch(x86_64)
    static let architecture: UInt32 = 0xC000_003E  // AUDIT_ARCH_X86_64
    static let seccompCall = 317
    /// socket, connect, bind, ptrace, process_vm_readv, process_vm_writev, add_key, request_key,
    /// keyctl, mount, unshare, setns, bpf, userfaultfd, perf_event_open, io_uring_setup, kexec_load.
    static let refused: [UInt32] = [41, 42, 49, 101, 310, 311, 248, 249, 250, 165, 272, 308, 321, 323, 298, 425, 246]
    #elseif arch(arm64)
    static let architecture: UInt32 = 0xC000_00B7  // AUDIT_ARCH_AARCH64
    static let seccompCall = 277
    static let refused: [UInt32] = [198, 203, 200, 117, 270, 271, 217, 218, 219, 40, 97, 268, 280, 282, 241, 425, 104]
    #else
    static let architecture: UInt32 = 0
    static let seccompCall = -1
    static let refused: [UInt32] = []
    #endif

    /// The filter: another architecture's system calls (and x32's) end the process; the
    /// refused calls fail with EPERM; everything else is allowed.
    static func filter() -> [Instruction] {
        let load: UInt16 = 0x20, jumpEqual: UInt16 = 0x15, jumpGreaterEqual: UInt16 = 0x35, ret: UInt16 = 0x06
        let allow: UInt32 = 0x7FFF_0000, refuse: UInt32 = 0x0005_0000 | UInt32(EPERM), kill: UInt32 = 0x8000_0000
        var program = [
            Instruction(code: load, jumpTrue: 0, jumpFalse: 0, k: 4),  // seccomp_data.arch
            Instruction(code: jumpEqual, jumpTrue: 1, jumpFalse: 0, k: architecture),
            Instruction(code: ret, jumpTrue: 0, jumpFalse: 0, k: kill),
            Instruction(code: load, jumpTrue: 0, jumpFalse: 0, k: 0),  // seccomp_data.nr
            Instruction(code: jumpGreaterEqual, jumpTrue: 0, jumpFalse: 1, k: 0x4000_0000),  // x32
            Instruction(code: ret, jumpTrue: 0, jumpFalse: 0, k: kill),
        ]
        for number in refused {
            program.append(Instruction(code: jumpEqual, jumpTrue: 0, jumpFalse: 1, k: number))
            program.append(Instruction(code: ret, jumpTrue: 0, jumpFalse: 0, k: refuse))
        }
        program.append(Instruction(code: ret, jumpTrue: 0, jumpFalse: 0, k: allow))
        return program
    }

    /// Installs `filter()` on every thread of the process (seccomp(2) with
    /// SECCOMP_FILTER_FLAG_TSYNC: the job runs on a thread of Swift's concurrency pool and the
    /// runtime's other threads must be filtered too; the kernel also gives them no-new-privs);
    /// a sentence when the kernel or the architecture does not allow it.
    static func installSystemCallFilter() -> String? {
        guard architecture != 0, let syscall = syscallFunction else { return "system-call filter: not written for this architecture" }
        let instructions = filter()
        return instructions.withUnsafeBufferPointer { buffer in
            var program = Program(length: UInt16(buffer.count), filter: buffer.baseAddress!)
            let status = withUnsafePointer(to: &program) { pointer in
                syscall(seccompCall, 1 /* SECCOMP_SET_MODE_FILTER */, 1 /* SECCOMP_FILTER_FLAG_TSYNC */, UnsafeRawPointer(pointer))
            }
            if status == 0 { return nil }
            return status > 0 ? "system-call filter: thread \(status) could not be synchronised" : "system-call filter: \(String(cString: strerror(errno)))"
        }
    }

    /// syscall(2), variadic in Glibc, called through a fixed prototype like `prctl`.
    private static let syscallFunction: (@convention(c) (Int, Int, Int, UnsafeRawPointer) -> Int)? =
        dlsym(nil, "syscall").map { unsafeBitCast($0, to: (@convention(c) (Int, Int, Int, UnsafeRawPointer) -> Int).self) }
}
