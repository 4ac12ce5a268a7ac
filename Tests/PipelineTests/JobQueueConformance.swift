import Foundation
import Synchronization
@testable import Pipeline
import XCTest

/// What every `JobQueue` backend must do, written once: each backend's test class calls these
/// checks with its own way to open a queue (`SQLiteJobQueueConformanceTests`; a PostgreSQL
/// backend adds a class with the same one-line tests).
struct JobQueueConformance {
    /// A fresh, empty queue.
    let open: () throws -> any JobQueue
    /// A second connection to the same queue (another process, another host).
    let reopen: (any JobQueue) throws -> any JobQueue
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    /// Two daemons on two hosts.
    let holder = LeaseHolder(host: "host-a", pid: 101, duration: 60)
    let otherHost = LeaseHolder(host: "host-b", pid: 202, duration: 60)

    /// The job's current claim, as its running worker holds it.
    func current(_ queue: any JobQueue, _ id: Int64) throws -> JobClaim { try XCTUnwrap(try queue.job(id: id)).claim }

    @discardableResult
    func enqueue(_ queue: any JobQueue, _ name: String, hash: String? = nil) throws -> Job {
        try queue.enqueue(name: name, fileName: "\(name).tar.gz", bundlePath: "/spool/\(name)", sha256: hash ?? name, now: now)
    }

    /// A job brought to `state` through the queue's own moves.
    func job(in state: JobState, _ queue: any JobQueue, _ name: String) throws -> Job {
        let job = try enqueue(queue, name)
        guard state != .queued else { return job }
        if state == .cancelled { return try queue.cancel(id: job.id, now: now) }
        XCTAssertEqual(try queue.claimNext(now: now, holder: holder)?.id, job.id, "claim \(name)")
        switch state {
        case .done: try queue.complete(try current(queue, job.id), resultName: name, now: now)
        case .failed: try queue.fail(try current(queue, job.id), error: "broken", bundlePath: "/quarantine/\(name)", now: now)
        default: break
        }
        return try XCTUnwrap(try queue.job(id: job.id))
    }

    /// Every move the queue offers by id, from every state: where the lifecycle table allows it,
    /// the job lands where the table says; elsewhere the queue refuses with the table's rule
    /// and changes nothing.
    func everyMove_followsTheLifecycleTable() throws {
        let moves: [(JobAction, (any JobQueue, Int64) throws -> Void)] = [
            (.renew, { [now] in _ = try $0.renewLease(try current($0, $1), now: now, duration: 60) }),
            (.reserveResult, { try $0.reserveResult(try current($0, $1), name: "r") }),
            (.complete, { [now] in try $0.complete(try current($0, $1), resultName: "r", now: now) }),
            (.fail, { [now] in try $0.fail(try current($0, $1), error: "e", bundlePath: "/q", now: now) }),
            (.retryLater, { [now] in try $0.retryLater(try current($0, $1), error: "e", notBefore: now, countsAttempt: true) }),
            (.requeue, { try $0.requeue(try current($0, $1)) }),
            (.markCancelled, { [now] in try $0.markCancelled(try current($0, $1), bundlePath: "/q", now: now) }),
            (.cancel, { [now] in _ = try $0.cancel(id: $1, now: now) }),
            (.retry, { _ = try $0.retry(id: $1) }),
        ]
        for (action, move) in moves {
            for state in JobState.allCases {
                let queue = try open()
                let job = try job(in: state, queue, "\(action)-\(state)")
                if let target = JobLifecycle.table[action]?[state] {
                    try move(queue, job.id)
                    XCTAssertEqual(try queue.job(id: job.id)?.state, target, "\(action.rawValue) from \(state.rawValue)")
                } else {
                    XCTAssertThrowsError(try move(queue, job.id), "\(action.rawValue) from \(state.rawValue)") { error in
                        XCTAssertEqual(error as? PipelineError, .illegalTransition(id: job.id, from: state, action: action))
                        XCTAssertTrue("\(error)".contains("rule: \(JobLifecycle.rule(action))"), "\(error)")
                    }
                    XCTAssertEqual(try queue.job(id: job.id), job, "a refused \(action.rawValue) changes nothing")
                }
            }
        }
        XCTAssertThrowsError(try open().cancel(id: 99, now: now)) { XCTAssertEqual($0 as? PipelineError, .noSuchJob(id: 99)) }
    }

    /// Claims take the oldest queued job whose time has come; progress is kept only while running.
    func claims_takeJobsInOrder_andProgressIsKeptWhileRunning() throws {
        let queue = try open()
        let a = try enqueue(queue, "a"); try enqueue(queue, "b")
        let first = try XCTUnwrap(try queue.claimNext(now: now, holder: holder))
        XCTAssertEqual([first.name, first.state.rawValue], ["a", "running"])
        XCTAssertEqual(first.startedAt, now)
        let progress = JobProgress(epoch: 2, epochs: 5, batch: 3, batches: 10, etaSeconds: 60, metrics: ["train_loss": 0.5])
        try queue.recordProgress(try current(queue, a.id), progress)
        XCTAssertEqual(try queue.job(id: a.id)?.progress, progress)
        XCTAssertEqual(try queue.claimNext(now: now, holder: holder)?.name, "b")
        XCTAssertNil(try queue.claimNext(now: now, holder: holder), "nothing left")
        try queue.complete(try current(queue, a.id), resultName: "a", now: now)
        try queue.recordProgress(try current(queue, a.id), JobProgress(epoch: 9, epochs: 9, batch: 0, batches: 0, etaSeconds: nil, metrics: [:]))
        XCTAssertEqual(try queue.job(id: a.id)?.progress, progress, "a finished job's progress stays as it ended")
        XCTAssertEqual(try queue.counts(), [.queued: 0, .running: 1, .done: 1, .failed: 0, .cancelled: 0])
    }

    func retryLater_waitsForItsTime_andCountsOnlyTheJobsOwnFailures() throws {
        let queue = try open()
        let job = try enqueue(queue, "a")
        _ = try queue.claimNext(now: now, holder: holder)
        try queue.retryLater(try current(queue, job.id), error: "diverged", notBefore: now + 60, countsAttempt: true)
        XCTAssertNil(try queue.claimNext(now: now + 59, holder: holder), "not before its time")
        XCTAssertEqual(try queue.claimNext(now: now + 60, holder: holder)?.attempts, 1)
        try queue.retryLater(try current(queue, job.id), error: "disk full", notBefore: now + 60, countsAttempt: false)
        let again = try XCTUnwrap(try queue.claimNext(now: now + 61, holder: holder))
        XCTAssertEqual(again.attempts, 1, "a full disk is not the job's fault")
        XCTAssertEqual(again.error, "disk full")
    }

    /// The same content twice is trained once: the copy points at the original and waits for it;
    /// a failed original's copy can be detached to train on its own.
    func sameContent_pointsAtTheFirstJob_andWaitsUntilItIsFinished() throws {
        let queue = try open()
        let original = try enqueue(queue, "a", hash: "h")
        let copy = try enqueue(queue, "a-copy", hash: "h")
        XCTAssertEqual(copy.duplicateOf, original.id)
        XCTAssertEqual(try queue.claimNext(now: now, holder: holder)?.id, original.id)
        XCTAssertNil(try queue.claimNext(now: now, holder: holder), "the copy waits while the original runs")
        try queue.fail(try current(queue, original.id), error: "broken", bundlePath: "/q", now: now)
        XCTAssertNil(try enqueue(queue, "third", hash: "h").duplicateOf, "a failed original is not reused, and a copy is never an original")
        try queue.detachDuplicate(id: copy.id)
        XCTAssertNil(try queue.job(id: copy.id)?.duplicateOf)
        XCTAssertEqual(try queue.claimNext(now: now, holder: holder)?.id, copy.id)
        XCTAssertNil(try enqueue(queue, "other", hash: "other").duplicateOf)
    }

    func cancel_queuedAtOnce_runningAtTheNextBatch_andRetryQueuesAgain() throws {
        let queue = try open()
        let a = try enqueue(queue, "a"), b = try enqueue(queue, "b")
        _ = try queue.claimNext(now: now, holder: holder)
        XCTAssertEqual(try queue.cancel(id: b.id, now: now).state, .cancelled)
        XCTAssertEqual(try queue.cancel(id: a.id, now: now).state, .running, "a running job only gets the request")
        XCTAssertTrue(try queue.isCancelRequested(id: a.id))
        try queue.markCancelled(try current(queue, a.id), bundlePath: "/quarantine/a", now: now)
        XCTAssertTrue(try queue.relocateCancelledBundle(id: b.id, from: "/spool/b", to: "/quarantine/b"))
        XCTAssertFalse(try queue.relocateCancelledBundle(id: b.id, from: "/spool/b", to: "/elsewhere"), "recorded elsewhere already")
        let retried = try queue.retry(id: a.id)
        XCTAssertEqual(retried.state, .queued)
        XCTAssertFalse(retried.cancelRequested)
        XCTAssertNil(retried.finishedAt)
        XCTAssertEqual(retried.bundlePath, "/quarantine/a", "the bundle is taken from where it lies")
        XCTAssertFalse(try queue.relocateCancelledBundle(id: a.id, from: "/quarantine/a", to: "/x"), "no longer cancelled")
        XCTAssertEqual(try queue.jobs(state: .cancelled).map(\.bundlePath), ["/quarantine/b"])
        XCTAssertEqual(try queue.bundlePaths(), ["/quarantine/a", "/quarantine/b"])
    }

    /// After a crash, another connection finds the running jobs and sends them back to the queue.
    func interruptedJobs_goBackToTheQueue_fromAnotherConnection() throws {
        let queue = try open()
        try enqueue(queue, "a"); try enqueue(queue, "b")
        _ = try queue.claimNext(now: now, holder: holder)
        let reopened = try reopen(queue)
        XCTAssertEqual(try reopened.requeueInterrupted(host: holder.host).map(\.name), ["a"])
        XCTAssertEqual(try reopened.jobs(state: .queued).map(\.name), ["a", "b"])
        XCTAssertEqual(try reopened.claimNext(now: now, holder: holder)?.name, "a", "it runs again first")
    }

    /// A claim leases the job to its holder in the next generation; a lease that runs out
    /// without renewal makes the job another host's at the next claim, and from then on every
    /// write of the old holder is refused and changes nothing (fencing), whatever it tries.
    func expiredLeases_passTheJobToTheNextClaimer_andFenceTheOldHolder() throws {
        let queue = try open()
        let elsewhere = try reopen(queue)
        let a = try enqueue(queue, "a")
        let first = try XCTUnwrap(try queue.claimNext(now: now, holder: holder))
        XCTAssertEqual(first.generation, 1)
        XCTAssertEqual(first.lease, JobLease(host: "host-a", pid: 101, expiresAt: now + 60))
        XCTAssertNil(try elsewhere.claimNext(now: now + 30, holder: otherHost), "the lease holds")
        XCTAssertEqual(try queue.renewLease(first.claim, now: now + 50, duration: 60).lease?.expiresAt, now + 110)
        XCTAssertNil(try elsewhere.claimNext(now: now + 100, holder: otherHost), "renewed: it still holds")
        let second = try XCTUnwrap(try elsewhere.claimNext(now: now + 111, holder: otherHost))
        XCTAssertEqual([second.id, second.generation], [a.id, 3], "expired (generation 2), then claimed (3)")
        XCTAssertEqual(second.lease, JobLease(host: "host-b", pid: 202, expiresAt: now + 171))
        XCTAssertEqual(second.startedAt, now, "it started when it was first claimed")

        let stale = first.claim
        let ownerMoves: [(JobAction, () throws -> Void)] = [
            (.renew, { [now] in _ = try queue.renewLease(stale, now: now + 112, duration: 60) }),
            (.recordProgress, { try queue.recordProgress(stale, JobProgress(epoch: 1, epochs: 2, batch: 0, batches: 1, etaSeconds: nil, metrics: [:])) }),
            (.reserveResult, { try queue.reserveResult(stale, name: "a") }),
            (.complete, { [now] in try queue.complete(stale, resultName: "a", now: now + 112) }),
            (.fail, { [now] in try queue.fail(stale, error: "e", bundlePath: "/q", now: now + 112) }),
            (.retryLater, { [now] in try queue.retryLater(stale, error: "e", notBefore: now, countsAttempt: true) }),
            (.requeue, { try queue.requeue(stale) }),
            (.markCancelled, { [now] in try queue.markCancelled(stale, bundlePath: "/q", now: now + 112) }),
        ]
        for (action, move) in ownerMoves {
            XCTAssertThrowsError(try move(), "\(action.rawValue) by the old holder") { error in
                XCTAssertEqual(error as? PipelineError, .leaseLost(stale, now: 3, holder: second.lease, state: .running, action: action))
                XCTAssertTrue("\(error)".contains("host-b (pid 202) holds it in generation 3"), "\(error)")
            }
            XCTAssertEqual(try queue.job(id: a.id), second, "a refused \(action.rawValue) changes nothing")
        }
        try elsewhere.complete(second.claim, resultName: "a", now: now + 120)
        let done = try XCTUnwrap(try queue.job(id: a.id))
        XCTAssertEqual(done.state, .done)
        XCTAssertNil(done.lease, "a finished job is nobody's")
        XCTAssertThrowsError(try queue.reserveResult(stale, name: "a-2")) { error in
            XCTAssertEqual(error as? PipelineError, .leaseLost(stale, now: 3, holder: nil, state: .done, action: .reserveResult))
        }
    }

    /// A daemon that starts again takes back the jobs its host name held, and no other host's.
    func interruptedJobs_areOnlyThoseOfTheHostThatStartsAgain() throws {
        let queue = try open()
        try enqueue(queue, "a"); try enqueue(queue, "b")
        let mine = try XCTUnwrap(try queue.claimNext(now: now, holder: holder))
        let theirs = try XCTUnwrap(try reopen(queue).claimNext(now: now, holder: otherHost))
        let restarted = try reopen(queue)
        let interrupted = try restarted.requeueInterrupted(host: "host-a")
        XCTAssertEqual(interrupted.map(\.name), ["a"])
        XCTAssertEqual(interrupted.first?.generation, 2)
        XCTAssertNil(interrupted.first?.lease)
        XCTAssertEqual(try restarted.job(id: theirs.id), theirs, "host-b's job is untouched")
        XCTAssertThrowsError(try queue.recordProgress(mine.claim, JobProgress(epoch: 1, epochs: 1, batch: 0, batches: 1, etaSeconds: nil, metrics: [:])))
        XCTAssertEqual(try restarted.claimNext(now: now, holder: holder)?.generation, 3)
    }

    func twoConnectionsClaimingAtOnce_neverTakeOneJobTwice() throws {
        let queue = try open()
        for i in 0..<200 { try enqueue(queue, "job\(i)") }
        let other = try reopen(queue)
        let claimed = Mutex<[Int64]>([])
        let failures = Mutex<[String]>([])
        let (now, holder) = (self.now, self.holder)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            let mine = worker % 2 == 0 ? queue : other
            do {
                while let job = try mine.claimNext(now: now, holder: holder) { claimed.withLock { $0.append(job.id) } }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        let ids = claimed.withLock { $0 }
        XCTAssertEqual(ids.count, 200)
        XCTAssertEqual(Set(ids).count, 200, "no job claimed twice")
    }

    func superseding_cancelsAQueuedJob_stopsARunningOne_andMarksAFinishedOne() throws {
        let queue = try open()
        func replacement(of old: Job, _ hash: String) throws -> Job {
            try queue.enqueue(NewJob(name: old.name, fileName: old.fileName, bundlePath: "/spool/\(hash)", sha256: hash, source: "1:2:3:4.5", supersedes: old.id), now: now)
        }
        let queued = try enqueue(queue, "queued")
        let newer = try replacement(of: queued, "queued-finished")
        let cancelled = try XCTUnwrap(try queue.job(id: queued.id))
        XCTAssertEqual(cancelled.state, .cancelled)
        XCTAssertEqual(cancelled.supersededBy, newer.id)
        XCTAssertTrue(cancelled.error?.contains("superseded by job \(newer.id)") == true)
        XCTAssertEqual(newer.source, "1:2:3:4.5")
        XCTAssertEqual(try queue.claimNext(now: now, holder: holder)?.id, newer.id, "the superseded job never runs")
        try queue.complete(try current(queue, newer.id), resultName: "queued", now: now)

        let running = try enqueue(queue, "running")
        _ = try queue.claimNext(now: now, holder: holder)
        let second = try replacement(of: running, "running-finished")
        XCTAssertEqual(try queue.job(id: running.id)?.state, .running)
        XCTAssertTrue(try queue.isCancelRequested(id: running.id), "a running job stops at its next batch")
        XCTAssertEqual(try queue.job(id: running.id)?.supersededBy, second.id)

        let failedJob = try enqueue(queue, "failed", hash: "truncated")
        XCTAssertEqual(try queue.claimNext(now: now, holder: holder)?.id, second.id)
        XCTAssertEqual(try queue.claimNext(now: now, holder: holder)?.id, failedJob.id)
        try queue.fail(try current(queue, failedJob.id), error: "truncated gzip", bundlePath: "/quarantine/f", now: now)
        let third = try replacement(of: failedJob, "truncated")
        XCTAssertEqual(try queue.job(id: failedJob.id)?.state, .failed)
        XCTAssertEqual(try queue.job(id: failedJob.id)?.supersededBy, third.id)
        XCTAssertNil(third.duplicateOf, "not a duplicate of the job it replaces, even with the same content")
    }

    /// One file in an inbox several hosts share, taken by two of them at once (each mount has
    /// its own device number): the second take gets the first's job, and nothing is recorded.
    /// The same bytes dropped again as another file (another inode or time) are a job of their own.
    func theSameInboxFileTakenByTwoHosts_isOneJob() throws {
        let queue = try open()
        let first = try queue.enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/host-a/1--a.tar.gz", sha256: "h",
                                             source: "64769:1234:3545:1800000000.5"), now: now)
        let second = try reopen(queue).enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/host-b/2--a.tar.gz", sha256: "h",
                                                      source: "41:1234:3545:1800000000.5"), now: now + 1)
        XCTAssertEqual(second, first, "the first host's job, unchanged")
        XCTAssertEqual(try queue.jobs(state: nil).count, 1)
        let again = try queue.enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/host-a/3--a.tar.gz", sha256: "h",
                                             source: "64769:1234:3545:1800000100.25"), now: now + 100)
        XCTAssertNotEqual(again.id, first.id, "dropped again later: a new file")
        XCTAssertEqual(again.duplicateOf, first.id, "with the same content as the first")
        let late = try queue.enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/host-b/4--a.tar.gz", sha256: "h",
                                            source: "41:1234:3545:1800000000.5"), now: now + 3601)
        XCTAssertNotEqual(late.id, first.id, "after an hour the same identity is another file (its inode reused)")
    }

    func jobBySource_findsTheNewestJobTakenFromThatFile() throws {
        let queue = try open()
        XCTAssertNil(try queue.job(source: "9:9:1:2.3"))
        _ = try queue.enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/a", sha256: "h1", source: "9:9:1:2.3"), now: now)
        let second = try queue.enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/b", sha256: "h2", source: "9:9:1:2.3"), now: now)
        XCTAssertEqual(try queue.job(source: "9:9:1:2.3")?.id, second.id)
    }

    func failureCount_countsFailuresInTheWindowAndUnfinishedJobs_perNameOrAll() throws {
        let queue = try open()
        for name in ["a", "a", "b"] {
            let job = try enqueue(queue, name, hash: UUID().uuidString)
            _ = try queue.claimNext(now: now, holder: holder)
            try queue.fail(try current(queue, job.id), error: "bad", bundlePath: "/q", now: now)
        }
        let old = try enqueue(queue, "a", hash: "old")
        _ = try queue.claimNext(now: now, holder: holder)
        try queue.fail(try current(queue, old.id), error: "bad", bundlePath: "/q", now: now - 7200)
        try enqueue(queue, "a", hash: "waiting")
        try enqueue(queue, "c", hash: "other")
        XCTAssertEqual(try queue.failureCount(since: now - 3600, fileName: "a.tar.gz"), FailureCount(failed: 2, unfinished: 1))
        XCTAssertEqual(try queue.failureCount(since: now - 3600, fileName: nil), FailureCount(failed: 3, unfinished: 2))
        XCTAssertEqual(try queue.failureCount(since: now - 10_000, fileName: nil).failed, 4)
    }
}
