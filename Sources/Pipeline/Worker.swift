import Foundation
import Kernels
import Logging
import NN
import Synchronization

/// Takes jobs from the queue in order and has each one run by a confined child process of this
/// binary (`ConfinedJob`, `JobChild`; supervised in Worker+Child.swift), on a thread of its own.
/// The worker never opens a bundle itself: it owns the queue, the spool and the outbox, and
/// turns whatever the child does (a result, a failure, a crash, a resource limit, silence)
/// into a recorded outcome. Every epoch ends with a checkpoint in the state folder, so a job
/// interrupted by SIGTERM, kill -9 (of the daemon or the child) or power loss resumes where it
/// was and ends with bitwise the weights an uninterrupted run gives. Outcomes:
/// - done: the result published in the outbox (model.safetensors, report.json, manifest.json,
///   job.json); the bundle leaves the spool.
/// - failed: outbox/<name>/error.json and the bundle in quarantine. An invalid bundle fails at
///   once; a training failure is retried with backoff up to `max_attempts`; trouble with the
///   machine (disk full, read-only or failing storage) is retried without limit, since it is
///   not the bundle's fault; a child that crashed, hit a resource limit or hung is retried up
///   to `max_attempts` like a training failure, so a poison bundle fails for good.
/// - cancelled (`augerino cancel`): stops at the next batch; the bundle goes to quarantine.
public final class Worker: Sendable {
    public let index: Int
    let configuration: DaemonConfiguration
    let state: StateDirectory
    let queue: JobQueue
    let outbox: Outbox
    let notifier: SystemdNotifier
    let logger: Logger
    let parallelism: Parallelism
    /// This binary, which runs each job as `augerino job-child`.
    let executable: URL
    private let wakeSignal = DispatchSemaphore(value: 0)
    /// What other threads see (`stop`, `runningJob`) and the loop's own counters, behind one lock.
    private struct LoopState {
        var stopping = false
        var currentJob: Int64?
        /// Consecutive failures of the machine (not of a job), for the backoff.
        var machineFailures = 0
        /// When `quarantineBundlesCancelledWhileQueued` last looked (it looks at most every 2 s).
        var lastCancelledSweep = Date.distantPast
    }
    private let loop = Mutex(LoopState())

    public init(index: Int, configuration: DaemonConfiguration, queue: JobQueue, notifier: SystemdNotifier, logger: Logger, parallelism: Parallelism,
                executable: URL = URL(fileURLWithPath: "/proc/self/exe")) {
        self.index = index
        self.executable = executable
        self.configuration = configuration
        state = configuration.stateDirectory
        outbox = configuration.outboxWriter
        (self.queue, self.notifier, self.logger, self.parallelism) = (queue, notifier, logger, parallelism)
    }

    /// Wakes the worker when it waits for work.
    public func wake() { wakeSignal.signal() }

    /// Asks the worker to stop: a running job stops at the next batch and goes back to queued.
    public func stop() {
        loop.withLock { $0.stopping = true }
        wakeSignal.signal()
    }

    var isStopping: Bool { loop.withLock { $0.stopping } }

    /// The job being trained, if any.
    public var runningJob: Int64? { loop.withLock { $0.currentJob } }

    /// The loop: claim, train, record; until `stop()`.
    public func run() {
        var idleBackoff = 1.0
        while !isStopping {
            notifier.watchdog()
            let job: Job?
            do {
                job = try queue.claimNext(now: Date(), holder: configuration.leaseHolder)
                idleBackoff = 1
            } catch {
                logger.error("worker \(index): cannot read the queue: \(error); trying again in \(Int(idleBackoff)) s")
                notifier.worker(index, status: "queue unavailable: \(error)")
                _ = wakeSignal.wait(timeout: .now() + idleBackoff)
                idleBackoff = min(idleBackoff * 2, 10)
                continue
            }
            guard let job else {
                quarantineBundlesCancelledWhileQueued()
                notifier.worker(index, status: nil)
                _ = wakeSignal.wait(timeout: .now() + min(1, notifier.watchdogInterval ?? 1))
                continue
            }
            loop.withLock { $0.currentJob = job.id }
            handle(job)
            loop.withLock { $0.currentJob = nil }
        }
    }

    private func handle(_ job: Job) {
        var job = job
        // A crash may have come after the result's rename but before the queue heard of it.
        if let reserved = job.resultName {
            let original = job.duplicateOf.flatMap { try? queue.job(id: $0) }
            switch outbox.publishedResult(reserved, job: job.id, linkTarget: original?.resultName) {
            case "done", "link":
                logger.info("job \(job.id): its result outbox/\(reserved) was already published; recording it")
                finishDone(job, resultName: reserved)
                return
            case "failed":
                let errorFile = outbox.folder.appendingPathComponent(reserved).appendingPathComponent("error.json")
                let reason = (FileManager.default.contents(atPath: errorFile.path)
                    .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }?["error"] as? String) ?? "see outbox/\(reserved)/error.json"
                logger.info("job \(job.id): its error.json was already published in outbox/\(reserved); recording the failure")
                let bundle = quarantine(job)
                record("mark job \(job.id) failed") { try queue.fail(job.claim, error: reason, bundlePath: bundle, now: Date()) }
                removeScratch(job, checkpoint: true)
                return
            default:
                break
            }
        }
        if let originalID = job.duplicateOf {
            do {
                if let original = try queue.job(id: originalID), original.state == .done, let target = original.resultName {
                    let name = try outbox.publishLink(base: job.name, to: target) { try queue.reserveResult(job.claim, name: $0) }
                    logger.info("job \(job.id): same content as job \(originalID); outbox/\(name) points at outbox/\(target)")
                    finishDone(job, resultName: name)
                    return
                }
                try queue.detachDuplicate(id: job.id)
                job.duplicateOf = nil
                logger.info("job \(job.id): its original, job \(originalID), did not succeed; training it on its own")
            } catch {
                failed(job, error, stage: "publish")
                return
            }
        }
        let finished = state.finishedResult(job: job.id)
        let outcome: ChildOutcome
        if FileManager.default.fileExists(atPath: finished.path) {
            logger.info("job \(job.id): its result was finished before publishing it failed; publishing it without training again")
            outcome = .done(finished)
        } else {
            outcome = runConfined(job)
        }
        switch outcome {
        case .leaseLost(let reason):
            lostLease(job, reason)
        case .done(var resultFolder):
            // Kept apart from the work folder until it is published: when publishing fails for
            // the machine's sake (a full outbox), the retry publishes it instead of training and
            // evaluating again.
            if resultFolder != finished {
                if rename(resultFolder.path, finished.path) == 0 {
                    resultFolder = finished
                    try? syncFolder(state.finished)
                } else {
                    logger.warning("job \(job.id): cannot keep its result in \(finished.path) (\(String(cString: strerror(errno)))); a failed publish will train again")
                }
            }
            do {
                // The lease must hold through the publish: renewed here, and every name reserved
                // under it (a worker that lost it is refused before its rename).
                let current = try queue.renewLease(job.claim, now: Date(), duration: configuration.leaseDuration)
                if let reserved = current.resultName, outbox.publishedResult(reserved, job: job.id, linkTarget: nil) == "done" {
                    // An earlier holder renamed the result into place after it lost its lease.
                    logger.info("job \(job.id): outbox/\(reserved) already holds its result, published by an earlier holder; recording it")
                    finishDone(job, resultName: reserved)
                    return
                }
                let name = try outbox.publish(base: job.name, job: job.id, reserve: { try queue.reserveResult(job.claim, name: $0) }) { folder in
                    for file in try FileManager.default.contentsOfDirectory(atPath: resultFolder.path).sorted() {
                        try AtomicFileCopy.copy(resultFolder.appendingPathComponent(file), to: folder.appendingPathComponent(file))
                    }
                    try jobRecord(job, extra: ["result": "done"]).write(to: folder.appendingPathComponent("job.json"))
                }
                logger.info("job \(job.id): done; wrote outbox/\(name)")
                finishDone(job, resultName: name)
            } catch {
                failed(job, error, stage: "publish")
            }
        case .stopped(cancelled: false):
            logger.notice("job \(job.id): stopping; it goes back to the queue and resumes from its last checkpoint")
            record("requeue job \(job.id)") { try queue.requeue(job.claim) }
            removeScratch(job, checkpoint: false)
        case .stopped(cancelled: true):
            guard stillHolds(job) else { return }
            if let newer = supersedingJob(job) {
                unlink(job.bundlePath)
                record("mark job \(job.id) cancelled") { try queue.markCancelled(job.claim, bundlePath: job.bundlePath, now: Date()) }
                logger.notice("job \(job.id): stopped; job \(newer) trains the finished file its inbox file became")
            } else {
                let bundle = quarantine(job)
                record("mark job \(job.id) cancelled") { try queue.markCancelled(job.claim, bundlePath: bundle, now: Date()) }
                logger.notice("job \(job.id): cancelled; its bundle is in \(bundle)")
            }
            removeScratch(job, checkpoint: true)
        case .failed(let fault, let stage, let message, let hint):
            failed(job, fault: fault, message: message, stage: stage, hint: hint)
        }
    }

    /// A failure in the daemon's own steps (publishing, the queue).
    private func failed(_ job: Job, _ error: Error, stage: String) {
        if case .leaseLost = error as? PipelineError { return lostLease(job, "\(error)") }
        failed(job, fault: JobFault.of(error), message: "\(error)", stage: stage, hint: (error as? LocalizedError)?.recoverySuggestion)
    }

    private func failed(_ job: Job, fault: JobFault, message: String, stage: String, hint: String?) {
        guard stillHolds(job) else { return }
        let attempts = job.attempts + (fault.countsAttempt ? 1 : 0)
        switch fault {
        case .machine:
            let failures = loop.withLock { state -> Int in
                state.machineFailures += 1
                return state.machineFailures
            }
            let delay = min(configuration.retryBackoffMax, configuration.retryBackoff * pow(2, Double(min(failures - 1, 20))))
            logger.error("job \(job.id): \(stage) failed: \(message); not the bundle's fault, trying again in \(Int(delay)) s")
            notifier.worker(index, status: "job \(job.id): waiting \(Int(delay)) s after: \(message)")
            record("requeue job \(job.id)") { try queue.retryLater(job.claim, error: message, notBefore: Date() + delay, countsAttempt: false) }
            removeScratch(job, checkpoint: false)
        case .training where attempts < configuration.maxAttempts, .process where attempts < configuration.maxAttempts:
            let delay = min(configuration.retryBackoffMax, configuration.retryBackoff * pow(2, Double(attempts - 1)))
            logger.warning("job \(job.id): attempt \(attempts) of \(configuration.maxAttempts) failed: \(message); trying again in \(Int(delay)) s")
            record("requeue job \(job.id)") { try queue.retryLater(job.claim, error: message, notBefore: Date() + delay, countsAttempt: true) }
            removeScratch(job, checkpoint: true)
        case .bundle, .training, .process:
            let reason = fault == .bundle ? message : "\(message) (failed \(attempts) times; max_attempts = \(configuration.maxAttempts))"
            if let newer = supersedingJob(job) {
                // Its inbox file was written again after it was taken: the failure is of a file
                // that was not finished, and job `newer` has the finished one. No error.json.
                unlink(job.bundlePath)
                record("mark job \(job.id) failed") { try queue.fail(job.claim, error: reason, bundlePath: job.bundlePath, now: Date()) }
                logger.notice("job \(job.id): failed at \(stage) (\(reason)), but job \(newer) supersedes it; no error.json")
                removeScratch(job, checkpoint: true)
                return
            }
            let bundle = quarantine(job)
            var published: String?
            do {
                published = try outbox.publish(base: job.name, job: job.id, reserve: { try queue.reserveResult(job.claim, name: $0) }) { folder in
                    try ErrorReport(job: job, stage: stage, message: reason, hint: hint, fault: fault, attempts: attempts, quarantined: bundle)
                        .write(to: folder.appendingPathComponent("error.json"))
                    try jobRecord(job, extra: ["result": "failed"]).write(to: folder.appendingPathComponent("job.json"))
                }
            } catch let publishError {
                logger.error("job \(job.id): cannot write its error.json: \(publishError)")
            }
            record("mark job \(job.id) failed") { try queue.fail(job.claim, error: reason, bundlePath: bundle, now: Date()) }
            logger.error("job \(job.id): failed at \(stage): \(reason); bundle kept in \(bundle)\(published.map { ", see outbox/\($0)/error.json" } ?? "")")
            removeScratch(job, checkpoint: true)
            // Superseded while the error.json was being published: withdraw it (the inbox does
            // the same when it supersedes a job that had already failed).
            if let name = published, let newer = supersedingJob(job), outbox.withdraw(name, job: job.id) {
                logger.notice("job \(job.id): withdrew outbox/\(name); job \(newer) supersedes it")
            }
        }
    }

    /// The job that superseded `job` (its inbox file was written again after it was taken).
    private func supersedingJob(_ job: Job) -> Int64? { (try? queue.job(id: job.id))??.supersededBy }

    /// The worker lost the job's lease (`reason` says how): it records nothing and publishes
    /// nothing more; the job's current holder resumes it from the last checkpoint.
    private func lostLease(_ job: Job, _ reason: String) {
        logger.warning("job \(job.id): \(reason); stopped without recording or publishing anything more; whoever holds the job now resumes it from its last checkpoint")
        notifier.worker(index, status: nil)
        removeScratch(job, checkpoint: false)
    }

    /// Whether this worker still holds the job's lease, renewed now, before it moves the job's
    /// files (a bundle into quarantine); when not, the loss is handled (`lostLease`). A queue
    /// that cannot be reached counts as held: the outcome's record waits for the queue.
    private func stillHolds(_ job: Job) -> Bool {
        do {
            _ = try queue.renewLease(job.claim, now: Date(), duration: configuration.leaseDuration)
        } catch {
            if case .leaseLost = error as? PipelineError {
                lostLease(job, "\(error)")
                return false
            }
        }
        return true
    }

    private func finishDone(_ job: Job, resultName: String) {
        guard record("mark job \(job.id) done", { try queue.complete(job.claim, resultName: resultName, now: Date()) }) else { return }
        loop.withLock { $0.machineFailures = 0 }
        removeScratch(job, checkpoint: true)
        // The result holds the manifest and the hash; the bundle itself is done with (in the
        // spool, or in quarantine after a retried failure).
        if state.isInSpool(job.bundlePath) || job.bundlePath.hasPrefix(state.quarantine.path + "/") { unlink(job.bundlePath) }
    }

    /// Moves the job's bundle into quarantine; returns where it is now.
    private func quarantine(_ job: Job) -> String {
        guard state.isInSpool(job.bundlePath) else { return job.bundlePath }
        let target = state.quarantine.appendingPathComponent(URL(fileURLWithPath: job.bundlePath).lastPathComponent).path
        do {
            try moveFile(job.bundlePath, to: target)
            try syncFolder(state.quarantine)
            return target
        } catch {
            logger.error("job \(job.id): cannot move its bundle to quarantine (\(error)); it stays at \(job.bundlePath)")
            return job.bundlePath
        }
    }

    /// A job cancelled while queued (waiting for its turn or for a retry) never reaches this
    /// worker, so its bundle would stay in the spool: it goes to quarantine like a running
    /// job's, and its checkpoint goes. Worker 0 does it every 2 s, while it waits for work and
    /// while it supervises a job. A `retry` that comes between the move and its record wins:
    /// the bundle moves back.
    func quarantineBundlesCancelledWhileQueued() {
        guard index == 0, loop.withLock({ state -> Bool in
            guard Date().timeIntervalSince(state.lastCancelledSweep) >= 2 else { return false }
            state.lastCancelledSweep = Date()
            return true
        }) else { return }
        guard let cancelled = try? queue.jobs(state: .cancelled) else { return }
        for job in cancelled where job.supersededBy == nil && state.isInSpool(job.bundlePath)
            && FileManager.default.fileExists(atPath: job.bundlePath) {
            let target = quarantine(job)
            guard target != job.bundlePath else { continue }
            if (try? queue.relocateCancelledBundle(id: job.id, from: job.bundlePath, to: target)) == true {
                removeScratch(job, checkpoint: true)
                logger.notice("job \(job.id): cancelled while queued; its bundle is in \(target)")
            } else {
                do { try moveFile(target, to: job.bundlePath) } catch {
                    logger.error("job \(job.id): was retried while its bundle moved to quarantine, and cannot move back (\(error)); it lies at \(target): `augerino cancel \(job.id)` then `augerino retry \(job.id)` pick it up")
                }
            }
        }
    }

    /// Removes the job's work folder; with `checkpoint`, also its checkpoint and its finished
    /// result (the job is over, or starts from the beginning).
    func removeScratch(_ job: Job, checkpoint: Bool) {
        try? FileManager.default.removeItem(at: state.workFolder(job.claim))
        if checkpoint {
            for file in state.checkpoints(job: job.id) { try? FileManager.default.removeItem(at: file) }
            try? FileManager.default.removeItem(at: state.finishedResult(job: job.id))
        }
    }

    /// Records an outcome in the queue, trying again (with backoff) while the queue cannot be
    /// written, so an outcome is never dropped; gives up only when stopping (the job is then
    /// still running in the queue, and the next start requeues it) or when the worker lost the
    /// job's lease (its current holder records the outcome). Returns whether it was recorded.
    @discardableResult
    func record(_ what: String, _ body: () throws -> Void) -> Bool {
        var delay = 1.0
        while true {
            do {
                try body()
                return true
            } catch {
                if case .leaseLost = error as? PipelineError {
                    logger.warning("cannot \(what): \(error)")
                    return false
                }
                logger.error("cannot \(what) in the queue: \(error); trying again in \(Int(delay)) s")
                notifier.worker(index, status: "queue unwritable: \(error)")
                if isStopping { return false }
                _ = wakeSignal.wait(timeout: .now() + delay)
                delay = min(delay * 2, 10)
            }
        }
    }

    private func jobRecord(_ job: Job, extra: [String: String]) -> JSONFile {
        var fields: [String: Any] = ["id": job.id, "name": job.name, "file_name": job.fileName, "sha256": job.sha256,
                                     "created_at": ISO8601DateFormatter().string(from: job.createdAt),
                                     "finished_at": ISO8601DateFormatter().string(from: Date())]
        for (key, value) in extra { fields[key] = value }
        return JSONFile(fields)
    }
}

/// error.json: what went wrong, where, and what to do.
struct ErrorReport {
    let job: Job, stage: String, message: String, hint: String?, fault: JobFault, attempts: Int, quarantined: String

    func write(to url: URL) throws {
        let fields: [String: Any] = [
            "schema": "augerino.error/1", "job": job.id, "bundle": job.fileName, "sha256": job.sha256,
            "stage": stage, "error": message, "hint": hint ?? (fault == .bundle ? "fix the bundle (see docs/bundle-format.md), then drop it in the inbox again" :
                "see the error; `augerino retry \(job.id)` runs it again"),
            "fault": fault.rawValue, "attempts": attempts, "quarantined_bundle": quarantined,
        ]
        try JSONFile(fields).write(to: url)
    }
}

/// A small JSON object written with sorted keys.
struct JSONFile {
    let fields: [String: Any]
    init(_ fields: [String: Any]) { self.fields = fields }
    func write(to url: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(data + Data("\n".utf8), to: url)
    }
}

/// Copies a file durably.
enum AtomicFileCopy {
    static func copy(_ source: URL, to target: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: source) } catch {
            throw PipelineError.io(path: source.path, step: "reading", reason: error.localizedDescription, errno: EIO)
        }
        try AtomicFile.write(data, to: target)
    }
}
