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

    enum CodingKeys: String, CodingKey {
        case id, name, sha256, state, attempts, progress, error
        case fileName = "file_name", bundlePath = "bundle_path", createdAt = "created_at", startedAt = "started_at"
        case finishedAt = "finished_at", notBefore = "not_before", resultName = "result_name", duplicateOf = "duplicate_of"
        case cancelRequested = "cancel_requested", source, supersededBy = "superseded_by"
    }
}
