import Bundle
import Foundation
import Logging

/// daemon.conf: `key = value` lines, optional `[section]` headers, `#` comments. Paths are
/// relative to the file's folder. Every key is documented in docs/configuration.md; an unknown
/// key or a bad value is an error that names the line.
public struct DaemonConfiguration: Sendable, Equatable {
    /// The file it was read from, for messages ("built-in defaults" when none).
    public var source = "built-in defaults"
    public var inbox: URL
    public var outbox: URL
    public var state: URL
    /// `shared_state =`: a folder every host reaches (an NFS mount, say) for the spool, the
    /// quarantine, checkpoints and finished results, when many hosts share a PostgreSQL queue.
    public var sharedState: URL?
    /// The state folder as the daemon and its commands use it: the host's own, with the shared
    /// part under `sharedState` when set.
    public var stateDirectory: StateDirectory { StateDirectory(state, shared: sharedState, host: hostName) }
    /// The outbox as this daemon writes it: its temporary folders carry `hostName` (`Outbox`).
    public var outboxWriter: Outbox { Outbox(outbox, host: hostName) }
    /// Jobs trained at the same time.
    public var workers = 1
    /// Kernel threads per worker (nil: all cores shared among the workers).
    public var threads: Int?
    /// Seconds between rescans of the inbox (a safety net under inotify).
    public var rescanInterval: Double = 30
    /// A file found by a scan (not announced by inotify) is taken once it has not changed for
    /// this many seconds, so that a copy still in progress is left alone.
    public var settleTime: Double = 2
    public var logLevel: Logger.Level = .info
    /// Training failures allowed before a job fails for good.
    public var maxAttempts = 3
    /// Seconds before the first retry; doubled each time, up to `retryBackoffMax`.
    public var retryBackoff: Double = 10
    public var retryBackoffMax: Double = 600
    /// Seconds a graceful stop (SIGTERM) may take before the daemon exits anyway.
    public var shutdownTimeout: Double = 8
    /// Seconds after taking a file during which the daemon keeps its descriptor and, when its
    /// writer turns out not to have finished, takes the finished file again (0: off).
    public var rewriteWindow: Double = 300
    /// Failed bundles and refused inbox files per `failureWindow` after which no file is taken
    /// until the window has room (0: no limit).
    public var maxFailures = 100
    /// The same, counted per inbox file name (0: no limit).
    public var maxFailuresPerName = 5
    public var failureWindow: Double = 3600
    /// Seconds a failed or cancelled bundle is kept in quarantine (0: for ever).
    public var quarantineRetention: Double = 30 * 86_400
    /// Bytes the quarantine may hold; the oldest bundles go first (0: no cap).
    public var quarantineMaxSize: Int = 10 << 30
    /// Seconds an outbox entry holding only an error.json is kept (0: for ever).
    public var errorRetention: Double = 30 * 86_400
    public var bundleLimits = BundleLimits()
    /// The resource limits of each job's child process (`[job]`); 0: none.
    public var jobLimits = JobLimits(memory: DaemonConfiguration.defaultJobMemory, cpuSeconds: 0, fileSize: 0, openFiles: 256)
    /// Seconds a job's child may go without a word (progress, a step begun) before it counts
    /// as hung and is ended.
    public var jobSilenceLimit: Double = 900

    /// A job's address space when daemon.conf says nothing: three quarters of this machine's
    /// memory, at least 2 GiB, so that a bomb stops well before the machine runs out.
    public static var defaultJobMemory: Int {
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        return max(2 << 30, physical / 4 * 3)
    }

    /// The largest file a job may write: what an extracted member may be, or a model, with room.
    public var jobFileSizeLimit: Int { jobLimits.fileSize > 0 ? jobLimits.fileSize : max(bundleLimits.maxMemberBytes, 1 << 30) + (64 << 20) }

    /// The limits a child gets, with the file-size limit derived from the bundle caps when unset.
    public var effectiveJobLimits: JobLimits {
        var limits = jobLimits
        limits.fileSize = jobFileSizeLimit
        return limits
    }
    /// `[queue]`: where the job queue lives.
    public var queue: QueueLocation = .sqlite
    /// `[queue]`: where the job queue lives.
    public enum QueueLocation: Sendable, Equatable {
        /// `STATE/queue.sqlite`, the default.
        case sqlite
        /// A PostgreSQL server (`url`); the password from `passwordFile`, else the environment
        /// variable AUGERINO_QUEUE_PASSWORD, else none.
        case postgres(PostgresQueueSettings, passwordFile: URL?)
    }

    /// `[queue] host_name`: how this daemon names itself in the leases of the jobs it runs (the
    /// machine's host name by default). On a shared queue each daemon needs its own.
    public var hostName = LeaseHolder.machineHostName
    /// `[queue] lease`: seconds a running job's lease lasts; its worker renews it four times
    /// as often, and when it runs out (a dead or cut-off host) another claim takes the job.
    public var leaseDuration: Double = 60

    /// Who this daemon's workers claim jobs as.
    public var leaseHolder: LeaseHolder { LeaseHolder(host: hostName, duration: leaseDuration) }

    /// `[training]`: defaults for settings a bundle's manifest leaves open (`TrainingSetting`).
    public var training = SettingValues()

    /// The defaults, with the three folders under `folder`.
    public init(folder: URL) {
        inbox = folder.appendingPathComponent("inbox")
        outbox = folder.appendingPathComponent("outbox")
        state = folder.appendingPathComponent("state")
    }

    /// Reads daemon.conf.
    /// - Throws: `PipelineError.configuration` naming the file and line.
    public static func load(_ file: URL) throws -> DaemonConfiguration {
        let text: String
        do { text = try String(contentsOf: file, encoding: .utf8) } catch {
            throw PipelineError.configuration(file: file.path, line: 0,
                                              rule: "cannot be read (\(error.localizedDescription)); create it (docs/configuration.md lists every key) or pass --config")
        }
        return try parse(text, file: file.path, folder: file.deletingLastPathComponent())
    }

    /// Parses daemon.conf's text; relative paths are taken from `folder`.
    public static func parse(_ text: String, file: String, folder: URL) throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration(folder: folder)
        configuration.source = file
        var section = ""
        var seen: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            func fail(_ rule: String) -> PipelineError { .configuration(file: file, line: lineNumber, rule: rule) }
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]") else { throw fail("a section header is `[name]`; this one has no closing bracket") }
                section = String(trimmed.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard Key.sections.contains(section) else {
                    throw fail("unknown section [\(section)]; the sections are \(Key.sections.filter { !$0.isEmpty }.map { "[\($0)]" }.joined(separator: ", "))")
                }
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else { throw fail("expected `key = value`, found \"\(trimmed)\"") }
            let name = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let qualified = section.isEmpty ? name : "\(section).\(name)"
            if section == "training" {
                guard let setting = TrainingSetting(rawValue: name) else {
                    throw fail("unknown key \"\(name)\" in [training]; the keys here are \(TrainingSetting.allCases.map(\.name).joined(separator: ", "))")
                }
                guard seen.insert(qualified).inserted else { throw fail("\"\(name)\" is set twice in [training]") }
                guard !value.isEmpty else { throw fail("\"\(name)\" has no value") }
                guard let parsed = setting.value(parsing: value), (try? configuration.training.set(setting, parsed)) != nil else {
                    throw fail("\"\(name)\" \(setting.rule), not \"\(value)\"")
                }
                continue
            }
            guard let key = Key(rawValue: qualified) else {
                let known = Key.allCases.filter { $0.section == section }.map(\.name).joined(separator: ", ")
                throw fail("unknown key \"\(name)\"\(section.isEmpty ? " at the top" : " in [\(section)]"); the keys here are \(known)")
            }
            guard seen.insert(qualified).inserted else { throw fail("\"\(name)\" is set twice\(section.isEmpty ? "" : " in [\(section)]")") }
            guard !value.isEmpty else { throw fail("\"\(name)\" has no value") }
            try configuration.apply(key, value, folder: folder, fail: fail)
        }
        if configuration.sharedState != nil, configuration.queue == .sqlite {
            throw PipelineError.configuration(file: file, line: 0, rule: "\"shared_state\" is for many hosts on one PostgreSQL queue, and this file has no [queue] url; set one, or remove shared_state")
        }
        return configuration
    }

    /// Opens the job queue this configuration names (migrating it when needed).
    /// - Throws: `PipelineError.queue` when the server cannot be reached or refuses;
    ///   `.configuration` when the password file cannot be read; the SQLite queue's errors.
    public func openQueue(state: StateDirectory) throws -> any JobQueue {
        switch queue {
        case .sqlite: return try state.openQueue()
        case .postgres(let settings, let passwordFile):
            #if PostgreSQL
            return try PostgresJobQueue(try withPassword(settings, passwordFile))
            #else
            throw PipelineError.configuration(file: source, line: 0, rule: "[queue] url \(PostgresQueueSettings.notBuilt)")
            #endif
        }
    }

    /// The same queue opened for reading only (`status`, `jobs`): no migration and no write, so
    /// these work on a read-only state folder, or with a PostgreSQL role that may only read the
    /// queue's tables.
    public func openQueueForReading(state: StateDirectory) throws -> any JobQueue {
        switch queue {
        case .sqlite: return try SQLiteJobQueue.openReadOnly(path: state.queuePath)
        case .postgres(let settings, let passwordFile):
            #if PostgreSQL
            return try PostgresJobQueue.openReadOnly(try withPassword(settings, passwordFile))
            #else
            throw PipelineError.configuration(file: source, line: 0, rule: "[queue] url \(PostgresQueueSettings.notBuilt)")
            #endif
        }
    }

    /// The PostgreSQL settings with the password filled in from the file or the environment.
    public func withPassword(_ settings: PostgresQueueSettings, _ file: URL?) throws -> PostgresQueueSettings {
        var settings = settings
        if let file {
            do {
                settings.password = try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .newlines)
            } catch {
                throw PipelineError.configuration(file: source, line: 0,
                                                  rule: "[queue] password_file \(file.path) cannot be read (\(error.localizedDescription)); make it readable by the daemon's user (mode 0600)")
            }
        } else {
            settings.password = ProcessInfo.processInfo.environment["AUGERINO_QUEUE_PASSWORD"]
        }
        return settings
    }

    /// Every key, as `section.name` (top-level keys have no section).
    enum Key: String, CaseIterable {
        case inbox, outbox, state, sharedState = "shared_state"
        case workers = "daemon.workers", threads = "daemon.threads", rescanInterval = "daemon.rescan_interval"
        case settleTime = "daemon.settle_time", logLevel = "daemon.log_level", maxAttempts = "daemon.max_attempts"
        case retryBackoff = "daemon.retry_backoff", retryBackoffMax = "daemon.retry_backoff_max", shutdownTimeout = "daemon.shutdown_timeout"
        case rewriteWindow = "daemon.rewrite_window", maxFailures = "daemon.max_failures", maxFailuresPerName = "daemon.max_failures_per_name"
        case failureWindow = "daemon.failure_window", quarantineRetention = "daemon.quarantine_retention"
        case quarantineMaxSize = "daemon.quarantine_max_size", errorRetention = "daemon.error_retention"
        case maxMembers = "bundle.max_members", maxMemberSize = "bundle.max_member_size", maxTotalSize = "bundle.max_total_size"
        case maxCompressionRatio = "bundle.max_compression_ratio"
        case jobMemoryLimit = "job.memory_limit", jobCPULimit = "job.cpu_limit", jobFileSizeLimit = "job.file_size_limit"
        case jobOpenFiles = "job.open_files", jobSilenceLimit = "job.silence_limit"
        case queueURL = "queue.url", queuePasswordFile = "queue.password_file", hostName = "queue.host_name", lease = "queue.lease"
        // [training]'s keys are the settings table's (`TrainingSetting`).

        static let sections = ["", "daemon", "bundle", "job", "queue", "training"]
        var section: String { rawValue.contains(".") ? String(rawValue.split(separator: ".")[0]) : "" }
        var name: String { rawValue.contains(".") ? String(rawValue.split(separator: ".")[1]) : rawValue }
    }

    private mutating func apply(_ key: Key, _ value: String, folder: URL, fail: (String) -> PipelineError) throws {
        func integer(_ range: ClosedRange<Int>) throws -> Int {
            guard let n = Int(value), range.contains(n) else { throw fail("\"\(key.name)\" must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(value)\"") }
            return n
        }
        func seconds(_ range: ClosedRange<Double>) throws -> Double {
            let units: [(String, Double)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
            var number = value, scale = 1.0
            if let unit = units.first(where: { value.hasSuffix($0.0) }) { (number, scale) = (String(value.dropLast()).trimmingCharacters(in: .whitespaces), unit.1) }
            guard let n = Double(number).map({ $0 * scale }), n.isFinite, range.contains(n) else {
                throw fail("\"\(key.name)\" must be seconds from \(range.lowerBound) to \(range.upperBound) (or with s, m, h or d), not \"\(value)\"")
            }
            return n
        }
        func bytes(allowZero: Bool = false) throws -> Int {
            let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)]
            var number = value, scale = 1
            if let unit = units.first(where: { value.hasSuffix($0.0) }) { (number, scale) = (String(value.dropLast(unit.0.count)).trimmingCharacters(in: .whitespaces), unit.1) }
            guard let n = Int(number), n > 0 || (allowZero && n == 0), n <= Int.max / scale else {
                throw fail("\"\(key.name)\" must be a \(allowZero ? "size" : "positive size") in bytes, optionally with K, M, G or T (powers of 1024), not \"\(value)\"")
            }
            return n * scale
        }
        func path() -> URL { value.hasPrefix("/") ? URL(fileURLWithPath: value) : folder.appendingPathComponent(value) }

        switch key {
        case .inbox: inbox = path()
        case .outbox: outbox = path()
        case .state: state = path()
        case .sharedState: sharedState = path()
        case .workers: workers = try integer(1...64)
        case .threads: threads = try integer(0...1024).nonZero
        case .rescanInterval: rescanInterval = try seconds(0.1...86_400)
        case .settleTime: settleTime = try seconds(0...3600)
        case .logLevel:
            guard let level = Logger.Level(rawValue: value) else {
                throw fail("\"log_level\" must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(value)\"")
            }
            logLevel = level
        case .maxAttempts: maxAttempts = try integer(1...100)
        case .retryBackoff: retryBackoff = try seconds(0...86_400)
        case .retryBackoffMax: retryBackoffMax = try seconds(0...604_800)
        case .shutdownTimeout: shutdownTimeout = try seconds(0.5...600)
        case .rewriteWindow: rewriteWindow = try seconds(0...86_400)
        case .maxFailures: maxFailures = try integer(0...1_000_000)
        case .maxFailuresPerName: maxFailuresPerName = try integer(0...1_000_000)
        case .failureWindow: failureWindow = try seconds(1...2_592_000)
        case .quarantineRetention: quarantineRetention = try seconds(0...315_360_000)
        case .quarantineMaxSize: quarantineMaxSize = try bytes(allowZero: true)
        case .errorRetention: errorRetention = try seconds(0...315_360_000)
        case .maxMembers: bundleLimits.maxMembers = try integer(1...100_000_000)
        case .maxMemberSize: bundleLimits.maxMemberBytes = try bytes()
        case .maxTotalSize: bundleLimits.maxTotalBytes = try bytes()
        case .maxCompressionRatio: bundleLimits.maxCompressionRatio = try integer(1...100_000)
        case .jobMemoryLimit: jobLimits.memory = try bytes(allowZero: true)
        case .jobCPULimit: jobLimits.cpuSeconds = Int(try seconds(0...31_536_000))
        case .jobFileSizeLimit: jobLimits.fileSize = try bytes(allowZero: true)
        case .jobOpenFiles: jobLimits.openFiles = try integer(32...1_048_576)
        case .jobSilenceLimit: jobSilenceLimit = try seconds(1...604_800)
        case .queueURL:
            guard PostgresQueueSettings.isBuilt else { throw fail("\"url\" \(PostgresQueueSettings.notBuilt)") }
            switch PostgresQueueSettings.parse(url: value) {
            case .success(let settings):
                if case .postgres(_, let file) = queue { queue = .postgres(settings, passwordFile: file) } else { queue = .postgres(settings, passwordFile: nil) }
            case .failure(let broken):
                throw fail("\"url\" \(broken.rule)")  // never the value: it may hold a password
            }
        case .queuePasswordFile:
            guard case .postgres(let settings, _) = queue else { throw fail("\"password_file\" needs a \"url\" before it in [queue]") }
            queue = .postgres(settings, passwordFile: path())
        case .hostName:
            guard (1...64).contains(value.utf8.count), value.utf8.allSatisfy({ $0 < 128 && (isalnum(Int32($0)) != 0 || "._-".utf8.contains($0)) }) else {
                throw fail("\"host_name\" must be 1 to 64 letters, digits, dots, hyphens or underscores, not \"\(value.escapingControlCharacters)\"")
            }
            hostName = value
        case .lease: leaseDuration = try seconds(2...86_400)
        }
    }
}

private extension Int {
    var nonZero: Int? { self == 0 ? nil : self }
}
