import Foundation

/// The daemon's side of one job's child process (`JobChild`): started from this very binary
/// with a clean environment, its spec on standard input, its events read from a pipe and its
/// standard error kept in `workFolder/child.log`. The worker reads events with a timeout, asks
/// the child to stop (SIGTERM) or ends it (SIGKILL), and turns how it ended into an outcome.
final class ConfinedJob {
    let spec: JobSpec
    let executable: URL
    private let process = Process()
    private var events: Int32 = -1
    private var buffer = Data()
    private(set) var ended = false

    /// The child's standard error (crash messages of the runtime).
    var errorLog: URL { URL(fileURLWithPath: spec.workFolder).appendingPathComponent("child.log") }

    init(spec: JobSpec, executable: URL) { (self.spec, self.executable) = (spec, executable) }

    /// The environment a child gets: nothing of the daemon's but the choice of GEMM tile. (The
    /// Swift runtime's backtracer is off: a crash's "Fatal error" line is what the daemon
    /// reports, and the backtrace would only slow the crash down.)
    static func environment(from parent: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var clean = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SWIFT_BACKTRACE": "enable=no"]
        if let tile = parent["AUGERINO_GEMM_KERNEL"] { clean["AUGERINO_GEMM_KERNEL"] = tile }
        return clean
    }

    /// Starts the child and hands it its spec.
    /// - Throws: `PipelineError.io` when the process cannot be started.
    func start() throws {
        let input = Pipe(), output = Pipe()
        _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil, attributes: [.posixPermissions: 0o600])
        let errors = try FileHandle(forWritingTo: errorLog)
        process.executableURL = executable
        process.arguments = ["job-child"]
        process.environment = Self.environment()
        process.currentDirectoryURL = URL(fileURLWithPath: spec.workFolder)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw PipelineError.io(path: executable.path, step: "starting the job's process", reason: "\(error)", errno: EIO)
        }
        try? errors.close()
        events = dup(output.fileHandleForReading.fileDescriptor)
        _ = fcntl(events, F_SETFD, FD_CLOEXEC)
        try? output.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
        let encoder = JSONEncoder()
        let data = (try? encoder.encode(spec)) ?? Data()
        try? input.fileHandleForWriting.write(contentsOf: data)
        try? input.fileHandleForWriting.close()
    }

    var pid: Int32 { process.processIdentifier }

    /// The next event, waiting at most `timeout` seconds: nil on timeout, or once the child
    /// closed its end (it ended; `ended` is then true).
    func next(timeout: Double) -> JobEvent? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                if let event = try? JSONDecoder().decode(JobEvent.self, from: Data(line)) { return event }
                continue  // not an event: ignored
            }
            if buffer.count > 1 << 20 { buffer.removeAll() }  // a line without end: dropped
            guard !ended else { return nil }
            var descriptor = pollfd(fd: events, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(max(0, timeout) * 1000))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return nil }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = read(events, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                ended = true
                close(events)
                continue
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// SIGTERM: stop at the next batch.
    func askToStop() { _ = Glibc.kill(process.processIdentifier, SIGTERM) }

    /// SIGKILL.
    func kill() { _ = Glibc.kill(process.processIdentifier, SIGKILL) }

    /// How the child ended, once it has: its exit status, or the signal that ended it.
    func waitForExit() -> Termination {
        process.waitUntilExit()
        if !ended { close(events); ended = true }
        return process.terminationReason == .uncaughtSignal ? .signal(process.terminationStatus) : .exit(process.terminationStatus)
    }

    enum Termination: Equatable {
        case exit(Int32)
        case signal(Int32)
    }

    /// What the child said on standard error before it ended: the Swift runtime's
    /// "Fatal error: …" line when there is one, else its last lines (at most 1,000 characters).
    func errorTail() -> String {
        guard let data = FileManager.default.contents(atPath: errorLog.path) else { return "" }
        let text = String(decoding: data.prefix(1 << 20), as: UTF8.self)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let fatal = lines.first(where: { $0.contains("Fatal error") }) { return String(fatal.prefix(1000)) }
        return String(lines.suffix(3).joined(separator: " / ").suffix(1000))
    }

    /// A signal's name, for messages.
    static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT",
                                      SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGTERM: "SIGTERM", SIGSYS: "SIGSYS"]
        return names[number] ?? "signal \(number)"
    }
}
