import Bundle
import Foundation
import Training

/// What the daemon hands a job's child process (`augerino job-child`), as one JSON object on
/// the child's standard input: everything the job needs, so the child reads no configuration,
/// queue or environment of its own.
public struct JobSpec: Codable, Sendable, Equatable {
    public var job: Int64
    /// The outbox name, for messages.
    public var name: String
    /// The bundle's file name in the inbox, as the user named it (messages, provenance).
    public var fileName: String
    public var sha256: String
    /// The daemon's copy of the bundle (in the spool or quarantine).
    public var bundlePath: String
    /// The child unpacks into `workFolder/bundle` and writes the result's files into
    /// `workFolder/result`; the folder exists, is empty and is the child's alone.
    public var workFolder: String
    /// Where the child writes the job's per-epoch checkpoint: a file of this claim's own
    /// generation, so a worker that lost the job never writes the new holder's.
    public var checkpointPath: String
    /// The job's newest checkpoint from an earlier attempt (any host's), to resume from.
    public var resumePath: String?
    public var bundleLimits: Limits
    /// daemon.conf's `[training]`: what the bundle's manifest leaves open.
    public var training: SettingValues
    public var threads: Int
    public var confinement: JobLimits

    /// `BundleLimits`, as it travels.
    public struct Limits: Codable, Sendable, Equatable {
        public var maxMembers: Int, maxMemberBytes: Int, maxTotalBytes: Int, maxCompressionRatio: Int

        public init(_ limits: BundleLimits) {
            (maxMembers, maxMemberBytes, maxTotalBytes, maxCompressionRatio) =
                (limits.maxMembers, limits.maxMemberBytes, limits.maxTotalBytes, limits.maxCompressionRatio)
        }

        public var bundleLimits: BundleLimits {
            var limits = BundleLimits()
            (limits.maxMembers, limits.maxMemberBytes, limits.maxTotalBytes, limits.maxCompressionRatio) =
                (maxMembers, maxMemberBytes, maxTotalBytes, maxCompressionRatio)
            return limits
        }
    }

    var bundleFolder: URL { URL(fileURLWithPath: workFolder).appendingPathComponent("bundle") }
    var resultFolder: URL { URL(fileURLWithPath: workFolder).appendingPathComponent("result") }
}

/// The resource limits a job's child runs under (daemon.conf `[job]`): it sets them on itself
/// before it reads a byte of the bundle.
public struct JobLimits: Codable, Sendable, Equatable {
    /// Bytes of address space (RLIMIT_AS); 0: none.
    public var memory: Int
    /// Seconds of CPU time (RLIMIT_CPU); 0: none.
    public var cpuSeconds: Int
    /// Bytes of the largest file it may write (RLIMIT_FSIZE); 0: none.
    public var fileSize: Int
    /// Open descriptors (RLIMIT_NOFILE).
    public var openFiles: Int

    public init(memory: Int, cpuSeconds: Int, fileSize: Int, openFiles: Int) {
        (self.memory, self.cpuSeconds, self.fileSize, self.openFiles) = (memory, cpuSeconds, fileSize, openFiles)
    }
}

/// What a job's child tells the daemon, one JSON object per line on the events descriptor.
/// The last one is `done`, `failed` or `stopped`; a child that ends without one crashed.
public struct JobEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// It begins a step: `stage` (extract, validate, train, finish) and `detail` (the member
        /// being read, say), so a crash or a limit can be told with where it happened.
        case stage
        /// A line for the daemon's log (`level`, `message`).
        case log
        /// Training progress (`progress`).
        case progress
        /// An epoch finished and its checkpoint is written (`message`: its summary).
        case epoch
        /// The result's files are in `workFolder/result`.
        case done
        /// The job failed: `fault`, `stage`, `message`.
        case failed
        /// It stopped at a batch boundary because it was asked to (SIGTERM).
        case stopped
    }

    public var kind: Kind
    public var stage: String?
    public var detail: String?
    public var level: String?
    public var message: String?
    public var fault: String?
    /// A failure's hint, the error's own (`LocalizedError.recoverySuggestion`), for error.json.
    public var hint: String?
    public var progress: JobProgress?

    public init(_ kind: Kind, stage: String? = nil, detail: String? = nil, level: String? = nil, message: String? = nil,
                fault: String? = nil, hint: String? = nil, progress: JobProgress? = nil) {
        (self.kind, self.stage, self.detail, self.level, self.message, self.fault, self.progress) = (kind, stage, detail, level, message, fault, progress)
        self.hint = hint
    }

    /// One line of JSON (no newline inside: JSON escapes them).
    public var line: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)) ?? Data(#"{"kind":"log","message":"unencodable event"}"#.utf8)) + Data("\n".utf8)
    }
}
