import Foundation

/// The daemon's queue of jobs. The worker and the commands (`status`, `jobs`, `retry`,
/// `cancel`) talk to it only through this protocol, so a second backend (PostgreSQL with
/// `SELECT … FOR UPDATE SKIP LOCKED`, for many hosts) can be added without touching them.
/// Every method is one transaction; two processes may call it at once.
public protocol JobQueue: Sendable {
    /// Records a bundle already moved into the spool. When a job with the same content is
    /// queued, running or done, the new job points at it (`duplicateOf`) and is not trained.
    func enqueue(name: String, fileName: String, bundlePath: String, sha256: String, now: Date) throws -> Job

    /// Takes the oldest queued job that may run now (its retry time has come, and the job it
    /// duplicates is finished) and marks it running.
    func claimNext(now: Date) throws -> Job?

    /// Stores progress of a running job.
    func recordProgress(id: Int64, _ progress: JobProgress) throws

    /// Whether `cancel` was asked for this job.
    func isCancelRequested(id: Int64) throws -> Bool

    /// Remembers the outbox name before the result is renamed into place, so that after a
    /// crash the worker can tell whether the rename happened.
    func reserveResult(id: Int64, name: String) throws

    /// running → done with the result's outbox name.
    func complete(id: Int64, resultName: String, now: Date) throws

    /// running → failed for good, with the reason; the bundle now lies at `bundlePath`.
    func fail(id: Int64, error: String, bundlePath: String, now: Date) throws

    /// running → queued, to run again at `notBefore`; `countsAttempt` for failures of the
    /// job's own (training), not for those of the machine (disk full).
    func retryLater(id: Int64, error: String, notBefore: Date, countsAttempt: Bool) throws

    /// running → queued after a graceful stop; the job resumes from its checkpoint.
    func requeue(id: Int64) throws

    /// running → cancelled (the worker saw the request); the bundle now lies at `bundlePath`.
    func markCancelled(id: Int64, bundlePath: String, now: Date) throws

    /// Every running job back to queued (at start-up: they were interrupted). Returns them.
    func requeueInterrupted() throws -> [Job]

    /// Drops a duplicate's link to a failed or cancelled original, so it trains on its own.
    func detachDuplicate(id: Int64) throws

    /// queued → cancelled at once; running: asks the worker to stop at the next batch.
    func cancel(id: Int64, now: Date) throws -> Job

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
