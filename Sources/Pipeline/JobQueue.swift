import Foundation

/// The daemon's queue of jobs. The worker and the commands (`status`, `jobs`, `retry`,
/// `cancel`) talk to it only through this protocol, so a second backend (PostgreSQL with
/// `SELECT … FOR UPDATE SKIP LOCKED`, for many hosts) can be added without touching them.
/// Every method is one transaction; two processes (or hosts) may call it at once. A running
/// job is leased to the worker that claimed it; that worker's writes carry its `JobClaim`, and
/// the queue refuses those of a worker whose lease is no longer the job's (fencing).
public protocol JobQueue: Sendable {
    /// Records a bundle already copied into the spool. When a job with the same content is
    /// queued, running or done, the new job points at it (`duplicateOf`) and is not trained.
    /// When a job was recorded from the same inbox file in the last hour (the same name,
    /// content, inode, size and modification time, whatever the device: one file in an inbox
    /// that several hosts share, seen through each host's mount), that job is returned and
    /// nothing is recorded: the caller's copy is not the one the job trains.
    /// When `new.supersedes` names a job, that job is superseded in the same transaction
    /// (its inbox file was written again after it was taken): a queued one is cancelled, a
    /// running one asked to stop at its next batch, and every one records `supersededBy`.
    func enqueue(_ new: NewJob, now: Date) throws -> Job

    /// The newest job taken from the inbox file `source` (`InboxFile.Identity`), if any: after
    /// a crash between recording a job and removing its inbox file, the file is not taken twice.
    func job(source: String) throws -> Job?

    /// What the inbox's limit on failures counts, over all jobs or those of inbox files called
    /// `fileName`: jobs that failed since `since`, and jobs queued or running (each may still
    /// fail).
    func failureCount(since: Date, fileName: String?) throws -> FailureCount

    /// Takes the oldest queued job that may run now (its retry time has come, and the job it
    /// duplicates is finished) and marks it running, leased to `holder` until `now` plus the
    /// lease's duration, in the job's next generation. In the same transaction, every running
    /// job whose lease ran out before `now` goes back to the queue first (`expire`), so a job
    /// whose host died or lost the queue is taken up again.
    func claimNext(now: Date, holder: LeaseHolder) throws -> Job?

    /// Extends the running job's lease to `now` plus `duration`. Returns the job as it is now
    /// (its cancel request, too).
    /// - Throws: `PipelineError.leaseLost` when the claim is no longer the job's.
    func renewLease(_ claim: JobClaim, now: Date, duration: TimeInterval) throws -> Job

    /// Stores progress of a running job. A job that ended meanwhile (cancelled) keeps what it had.
    /// - Throws: `PipelineError.leaseLost` when the claim is no longer the job's.
    func recordProgress(_ claim: JobClaim, _ progress: JobProgress) throws

    /// Whether `cancel` was asked for this job.
    func isCancelRequested(id: Int64) throws -> Bool

    /// Remembers the outbox name before the result is renamed into place, so that after a
    /// crash the worker can tell whether the rename happened.
    func reserveResult(_ claim: JobClaim, name: String) throws

    /// running → done with the result's outbox name.
    func complete(_ claim: JobClaim, resultName: String, now: Date) throws

    /// running → failed for good, with the reason; the bundle now lies at `bundlePath`.
    func fail(_ claim: JobClaim, error: String, bundlePath: String, now: Date) throws

    /// running → queued, to run again at `notBefore`; `countsAttempt` for failures of the
    /// job's own (training), not for those of the machine (disk full).
    func retryLater(_ claim: JobClaim, error: String, notBefore: Date, countsAttempt: Bool) throws

    /// running → queued after a graceful stop; the job resumes from its checkpoint.
    func requeue(_ claim: JobClaim) throws

    /// running → cancelled (the worker saw the request); the bundle now lies at `bundlePath`.
    func markCancelled(_ claim: JobClaim, bundlePath: String, now: Date) throws

    /// Every running job leased to `host` back to queued, in its next generation (at start-up:
    /// the daemon of that host name was interrupted, so they are nobody's). Returns them.
    func requeueInterrupted(host: String) throws -> [Job]

    /// Drops a duplicate's link to a failed or cancelled original, so it trains on its own.
    func detachDuplicate(id: Int64) throws

    /// queued → cancelled at once; running: asks the worker to stop at the next batch.
    func cancel(id: Int64, now: Date) throws -> Job

    /// Records that a cancelled job's bundle moved from `from` to `to` (the worker moves
    /// bundles of jobs cancelled while queued into quarantine). False, changing nothing, when
    /// the job is no longer cancelled or its bundle is no longer recorded at `from` (a `retry`
    /// came first: the caller moves the bundle back).
    func relocateCancelledBundle(id: Int64, from: String, to: String) throws -> Bool

    /// failed or cancelled → queued, with attempts and error cleared.
    func retry(id: Int64) throws -> Job

    func job(id: Int64) throws -> Job?
    /// Jobs in id order, optionally only those in `state`.
    func jobs(state: JobState?) throws -> [Job]
    /// How many jobs are in each state.
    func counts() throws -> [JobState: Int]
    /// Every bundle path the queue knows, to adopt spool files left by a crash.
    func bundlePaths() throws -> Set<String>
}

/// A queue on a server that daemons on many hosts share (PostgreSQL): one daemon per host name,
/// since a daemon at start-up takes back every job its host name held.
public protocol SharedJobQueue: JobQueue {
    /// Where the queue is, for logs and messages: never a password.
    var location: String { get }
    /// Takes the lock of the daemon named `host`, held until `release()` or the daemon's end.
    /// - Throws: `PipelineError.queueLocked` when another daemon of that name holds it.
    func takeDaemonLock(host: String) throws -> any DaemonQueueLock
}

/// A `SharedJobQueue`'s lock of one daemon.
public protocol DaemonQueueLock: Sendable {
    func release()
}

extension JobQueue {
    /// Records a bundle with no inbox identity and nothing to supersede.
    public func enqueue(name: String, fileName: String, bundlePath: String, sha256: String, now: Date) throws -> Job {
        try enqueue(NewJob(name: name, fileName: fileName, bundlePath: bundlePath, sha256: sha256), now: now)
    }
}

/// The part of an inbox file's identity (`InboxFile.Identity.text`: device, inode, size,
/// modification time) that every host sharing the inbox sees alike: all but the device.
func sharedInboxIdentity(_ source: String) -> String {
    source.firstIndex(of: ":").map { String(source[source.index(after: $0)...]) } ?? source
}

/// How long after a take another host's take of the same inbox file is recognised as the same.
let sameInboxFileWindow: TimeInterval = 3600

/// Failed and unfinished jobs, for the inbox's limit on failures.
public struct FailureCount: Sendable, Equatable {
    public var failed: Int
    public var unfinished: Int
    public var total: Int { failed + unfinished }

    public init(failed: Int, unfinished: Int) { (self.failed, self.unfinished) = (failed, unfinished) }
}

/// A bundle in the spool, to be recorded as a job.
public struct NewJob: Sendable, Equatable {
    public var name: String
    public var fileName: String
    public var bundlePath: String
    public var sha256: String
    /// The inbox file it was copied from (`InboxFile.Identity.text`); nil when unknown (a
    /// spool file adopted after a crash).
    public var source: String?
    /// The job this one replaces (the same inbox file, written again after it was taken).
    public var supersedes: Int64?

    public init(name: String, fileName: String, bundlePath: String, sha256: String, source: String? = nil, supersedes: Int64? = nil) {
        (self.name, self.fileName, self.bundlePath, self.sha256, self.source, self.supersedes) = (name, fileName, bundlePath, sha256, source, supersedes)
    }
}
