import Foundation

/// Where a job is in its life: queued → running → done | failed | cancelled. `retry` sends a
/// failed or cancelled job back to queued; a running job interrupted by a stop or a crash goes
/// back to queued and resumes from its last checkpoint. `JobLifecycle` holds every move.
public enum JobState: String, Sendable, CaseIterable, Codable {
    case queued, running, done, failed, cancelled
}

/// How far a running job has come.
public struct JobProgress: Sendable, Equatable, Codable {
    public var epoch: Int
    public var epochs: Int
    public var batch: Int
    public var batches: Int
    /// Seconds left, estimated from this attempt's pace.
    public var etaSeconds: Double?
    /// The last finished epoch's numbers (train_loss, train_metric, test_metric, widths).
    public var metrics: [String: Double]
    /// After training: what runs ("final evaluation and probes"), with `batch` of `batches`
    /// its work done (image passes) and `fraction` its share done. nil while training.
    public var phase: String?

    public init(epoch: Int, epochs: Int, batch: Int, batches: Int, etaSeconds: Double?, metrics: [String: Double], phase: String? = nil) {
        (self.epoch, self.epochs, self.batch, self.batches, self.etaSeconds, self.metrics) = (epoch, epochs, batch, batches, etaSeconds, metrics)
        self.phase = phase
    }

    /// Share of the run (or, in a phase after training, of the phase) done, 0…1.
    public var fraction: Double {
        if phase != nil { return batches > 0 ? min(1, Double(batch) / Double(batches)) : 0 }
        guard epochs > 0 else { return 0 }
        return min(1, (Double(max(0, epoch - 1)) + (batches > 0 ? Double(batch) / Double(batches) : 0)) / Double(epochs))
    }

    enum CodingKeys: String, CodingKey {
        case epoch, epochs, batch, batches, metrics, phase
        case etaSeconds = "eta_seconds"
    }
}

/// One bundle's way through the daemon, as the queue stores it.
public struct Job: Sendable, Equatable, Codable {
    public var id: Int64
    /// The outbox name: the bundle's file name without .tar.gz / .tgz.
    public var name: String
    /// The file name it had in the inbox.
    public var fileName: String
    /// Where the bundle is now (the spool while queued or running, quarantine after failing).
    public var bundlePath: String
    public var sha256: String
    public var state: JobState
    /// Attempts that counted against `max_attempts` (training failures).
    public var attempts: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// A retry waits until then.
    public var notBefore: Date?
    public var progress: JobProgress?
    /// The last error, as a sentence.
    public var error: String?
    /// The outbox folder's name, once publishing began.
    public var resultName: String?
    /// The earlier job with the same content whose result this one points at.
    public var duplicateOf: Int64?
    public var cancelRequested: Bool
    /// The inbox file it was copied from (device and inode), when known.
    public var source: String?
    /// The job that replaced this one because its inbox file was written again after it was
    /// taken (it was taken before its writer had finished).
    public var supersededBy: Int64?
    /// How many times the job was claimed or taken from a worker that lost it: the fencing
    /// token every write of its running worker carries (`JobClaim`).
    public var generation: Int64 = 0
    /// Who holds it while it runs, and until when; nil when no worker holds it.
    public var lease: JobLease?

    /// What its running worker's writes carry.
    public var claim: JobClaim { JobClaim(id: id, generation: generation) }

    enum CodingKeys: String, CodingKey {
        case id, name, sha256, state, attempts, progress, error
        case fileName = "file_name", bundlePath = "bundle_path", createdAt = "created_at", startedAt = "started_at"
        case finishedAt = "finished_at", notBefore = "not_before", resultName = "result_name", duplicateOf = "duplicate_of"
        case cancelRequested = "cancel_requested", source, supersededBy = "superseded_by", generation, lease
    }
}

/// A worker's hold on a running job: the job and the generation of the claim that gave it to
/// the worker. Every write a running job's worker makes (progress, result name, outcome,
/// renewal) carries it, and the queue refuses one whose generation is no longer the job's with
/// `PipelineError.leaseLost`: the fence that keeps a worker whose lease expired (a host cut off
/// from the queue that comes back) from recording anything over the new holder's work.
public struct JobClaim: Sendable, Hashable, Codable, CustomStringConvertible {
    public let id: Int64
    public let generation: Int64

    public init(id: Int64, generation: Int64) { (self.id, self.generation) = (id, generation) }
    public var description: String { "job \(id) (generation \(generation))" }
}

/// Who holds a running job and until when. The holder renews it while the job runs; once
/// `expiresAt` has passed, the next claim on any host sends the job back to the queue (the
/// lifecycle's `expire`) and takes it, with the next generation.
public struct JobLease: Sendable, Equatable, Codable {
    /// The holder's name for itself (`[queue] host_name`; the machine's host name by default).
    public var host: String
    public var pid: Int32
    public var expiresAt: Date

    public init(host: String, pid: Int32, expiresAt: Date) { (self.host, self.pid, self.expiresAt) = (host, pid, expiresAt) }

    enum CodingKeys: String, CodingKey {
        case host, pid
        case expiresAt = "expires_at"
    }
}

/// Who claims jobs: a daemon, named by its host name and pid, and how long a lease lasts
/// between renewals.
public struct LeaseHolder: Sendable, Equatable {
    public var host: String
    public var pid: Int32
    public var duration: TimeInterval

    public init(host: String, pid: Int32 = getpid(), duration: TimeInterval) { (self.host, self.pid, self.duration) = (host, pid, duration) }

    /// This machine's host name (gethostname), or "localhost" when it has none.
    public static var machineHostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name
    }

    func lease(from now: Date) -> JobLease { JobLease(host: host, pid: pid, expiresAt: now + duration) }
}
